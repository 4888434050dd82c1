import { sql, type Kysely, type Selectable } from 'kysely';
import { backoffDelayMs } from '../domain/backoff.js';
import type { FieldCipher } from '../domain/field-cipher.js';
import { newId } from '../domain/ids.js';
import { FINAL_STATUSES, type MessageStatus } from '../domain/message-status.js';
import { TON, NPI, destinationAddress, sourceAddress } from '../providers/smpp/protocol/address.js';
import { CommandStatus, statusName } from '../providers/smpp/protocol/command-status.js';
import { formatReceipt, stateOfStatus } from '../providers/smpp/protocol/receipt.js';
import type { SmppSession } from '../providers/smpp/protocol/session.js';
import { ESM_CLASS } from '../providers/smpp/protocol/short-message.js';
import type { DialectName } from '../store/database.js';
import type { GroupCommit } from '../store/group-commit.js';
import type { CallbacksTable, Database } from '../store/schema.js';

const BATCH = 100;
const RESPONSE_TIMEOUT_MS = 10_000;
const LEASE_MS = 60_000;
/** A receipt no ESME took within this is given up (SMSCs keep receipts about as long). */
const GIVE_UP_AFTER_MS = 72 * 3_600_000;
/** The submission row is written just after the message: a receipt claimed in between waits this long for it. */
const SUBMISSION_GRACE_MS = 10_000;

interface MessageFacts {
  to_number: string;
  from_number: string | null;
  body: string;
  created_at: number;
  final_at: number | null;
  error_code: string | null;
}

/**
 * Sends the receipts of SMPP submissions as deliver_sm to the account's receiving binds. The
 * receipts are rows of the callbacks outbox, written with the status change that caused them (url
 * `smpp:<system_id>`), so they survive restarts and wait while the ESME is not bound; every attempt
 * is recorded as a callback attempt. Changes that are no receipt (queued, sending, sent; a
 * delivery when registered_delivery asked for failures only) are dropped from the outbox.
 */
export class ReceiptDelivery {
  private nextAccount = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
    private readonly commits: GroupCommit,
    private readonly cipher: FieldCipher,
    /** This process's sessions bound to receive for an account, and the accounts that have one. */
    private readonly receivers: { accounts(): string[]; sessionFor(systemId: string): SmppSession | undefined },
  ) {}

  async deliverDue(now = Date.now()): Promise<number> {
    const urls = this.receivers.accounts().map((id) => `smpp:${id}`);
    if (urls.length === 0) return 0;
    const claimed = await this.commits.run(async (trx) => {
      const rows: Array<Selectable<CallbacksTable>> = [];
      // An account at a time, along callbacks_due_smpp (migration 0022; its conditions are these literals): one
      // range of the index each, read only as far as its share of the batch. With `url in (…)` the oldest of
      // several accounts would be found by sorting every due receipt of them all. The next look starts after
      // the last account asked, so with more accounts than the batch holds each still gets its turn.
      const first = this.nextAccount % urls.length;
      const share = Math.ceil(BATCH / urls.length);
      let asked = 0;
      for (const url of [...urls.slice(first), ...urls.slice(0, first)]) {
        if (rows.length >= BATCH) break;
        asked++;
        let due = trx.selectFrom('callbacks').select('id').where('status', '=', sql.lit('pending')).where('url', 'like', sql.lit('smpp:%'))
          .where('url', '=', url).where('next_attempt_at', '<=', now)
          .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)])).orderBy('next_attempt_at').limit(Math.min(share, BATCH - rows.length));
        if (this.dialect === 'postgres') due = due.forUpdate().skipLocked();
        rows.push(...await trx.updateTable('callbacks').set({ lease_until: now + LEASE_MS }).where('id', 'in', due).returningAll().execute());
      }
      this.nextAccount = first + asked;
      return rows;
    });
    claimed.sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
    for (const callback of claimed) await this.deliver(callback, now);
    return claimed.length;
  }

  private async deliver(callback: Selectable<CallbacksTable>, now: number): Promise<void> {
    const change = JSON.parse(callback.payload) as { status: MessageStatus; timestamp: string };
    const systemId = callback.url.slice('smpp:'.length);
    const [message, submission] = await Promise.all([
      this.db.selectFrom('messages').select(['to_number', 'from_number', 'body', 'created_at', 'final_at', 'error_code']).where('id', '=', callback.message_id).executeTakeFirst(),
      this.db.selectFrom('smpp_submissions').selectAll().where('message_id', '=', callback.message_id).executeTakeFirst(),
    ]);
    const reportable = FINAL_STATUSES.includes(change.status) && (submission?.registered_delivery !== 2 || change.status !== 'delivered');
    if (!message || !reportable) {
      await this.commits.run((trx) => trx.deleteFrom('callbacks').where('id', '=', callback.id).execute());
      return;
    }
    if (!submission && now - callback.created_at < SUBMISSION_GRACE_MS) {
      await this.commits.run((trx) => trx.updateTable('callbacks').set({ lease_until: null, next_attempt_at: now + 500 }).where('id', '=', callback.id).execute());
      return;
    }
    const session = this.receivers.sessionFor(systemId);
    const started = Date.now();
    let error: string | null = null;
    let statusCode: number | null = null;
    if (!session) {
      error = 'no receiving bind of the account is up';
    } else {
      try {
        statusCode = await this.sendReceipts(session, callback.message_id, change.status, message, submission);
        if (statusCode !== CommandStatus.ESME_ROK) error = `deliver_sm answered ${statusName(statusCode)}`;
      } catch (err) {
        error = (err as Error).message;
      }
    }
    const finished = Date.now();
    const attempt = callback.attempts + 1;
    const giveUp = error !== null && finished - callback.created_at > GIVE_UP_AFTER_MS;
    await this.commits.run(async (trx) => {
      await trx.insertInto('callback_attempts').values({
        id: newId('cba', finished), callback_id: callback.id, attempt, status_code: statusCode, error, duration_ms: finished - started, created_at: finished,
      }).execute();
      await trx.updateTable('callbacks').set({
        status: error === null ? 'delivered' : giveUp ? 'failed' : 'pending', attempts: attempt, lease_until: null, updated_at: finished, last_error: error,
        next_attempt_at: error === null || giveUp ? finished : finished + backoffDelayMs(attempt, 1000, 300_000),
      }).where('id', '=', callback.id).execute();
    });
  }

  /** One deliver_sm per id the ESME was answered with (one per part of a long text); the first refusal stops it. */
  private async sendReceipts(
    session: SmppSession, messageId: string, status: MessageStatus, message: MessageFacts,
    submission: { part_ids: string; source_ton: number; source_npi: number; source_addr: string; dest_ton: number; dest_npi: number; dest_addr: string } | undefined,
  ): Promise<number> {
    const ids = submission ? JSON.parse(submission.part_ids) as string[] : [messageId];
    // The receipt comes from the recipient and goes to the sender: the submit's addresses swapped.
    const from = submission ? { ton: submission.dest_ton, npi: submission.dest_npi, addr: submission.dest_addr } : destinationAddress(message.to_number);
    const to = submission ? { ton: submission.source_ton, npi: submission.source_npi, addr: submission.source_addr } : sourceAddress(message.from_number ?? undefined);
    const state = stateOfStatus(status, message.error_code);
    // Characters that read the same in GSM 03.38 and ASCII only: `@` is 0x00 in GSM, and ESMEs parse this text.
    const text = this.cipher.open(message.body).replace(/[^A-Za-z0-9 .,:;!?'()+-]/g, '?');
    for (const id of ids) {
      const receipt = formatReceipt({
        messageId: id, submitted: 1, delivered: status === 'delivered' ? 1 : 0, submitDate: Number(message.created_at),
        doneDate: Number(message.final_at ?? Date.now()), state, error: status === 'delivered' ? '000' : '001', text,
      });
      const response = await session.request('deliver_sm', {
        service_type: '', source_addr_ton: from.ton || TON.INTERNATIONAL, source_addr_npi: from.npi || NPI.ISDN, source_addr: from.addr,
        dest_addr_ton: to.ton, dest_addr_npi: to.npi, destination_addr: to.addr, esm_class: ESM_CLASS.DELIVERY_RECEIPT,
        protocol_id: 0, priority_flag: 0, schedule_delivery_time: '', validity_period: '', registered_delivery: 0, replace_if_present_flag: 0,
        data_coding: 0, sm_default_msg_id: 0, short_message: Buffer.from(receipt, 'ascii'),
        receipted_message_id: id, message_state: state,
      }, RESPONSE_TIMEOUT_MS);
      if (response.status !== CommandStatus.ESME_ROK) return response.status;
    }
    return CommandStatus.ESME_ROK;
  }
}
