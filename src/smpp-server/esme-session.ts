import { hasScope } from '../domain/api-keys.js';
import { newId } from '../domain/ids.js';
import { processLog } from '../logging.js';
import { CommandStatus } from '../providers/smpp/protocol/command-status.js';
import type { Reassembler } from '../providers/smpp/protocol/reassembly.js';
import type { IncomingPdu, SmppSession } from '../providers/smpp/protocol/session.js';
import type { Services } from '../services/container.js';
import type { SmppAccount } from './account-service.js';
import { submitStatusFor } from './submit-errors.js';
import { callerFor, destinationOf, readSubmission, sendRequestFor, type Submission } from './submission.js';
import type { AccountThroughput } from './throughput.js';

export type BindMode = 'transmitter' | 'receiver' | 'transceiver';

const BIND_COMMANDS: Record<string, BindMode> = { bind_transmitter: 'transmitter', bind_receiver: 'receiver', bind_transceiver: 'transceiver' };

/** A refused bind is answered only after this: guessing passwords over SMPP is slow. */
export const BIND_FAIL_DELAY_MS = 1000;
/** A connection that has not bound by then is closed. */
const BIND_TIMEOUT_MS = 30_000;
/** Submits of one bind being processed at once; more are answered ESME_RMSGQFUL. */
export const SERVER_WINDOW = 100;
/** What our bind_resp names us. */
const SERVER_SYSTEM_ID = 'SMSGW';

/** What a session needs from the server it belongs to. */
export interface SessionHost {
  services: Services;
  /** Binds the account holds in this process now. */
  bindsOf(systemId: string): number;
  throughputOf(account: SmppAccount): AccountThroughput;
  /** Concatenated parts per account, source and destination, waiting for their siblings. */
  parts: Reassembler<{ id: string; registeredDelivery: number }>;
  /** A receiver or transceiver bound: receipts waiting for the account can go out. */
  receiverBound(): void;
}

/**
 * One ESME's connection: bind, then submits through the gateway's normal send path, answered
 * with our ids; receipts go out on it (receipt-delivery.ts) when it is bound to receive.
 */
export class EsmeSession {
  account: SmppAccount | undefined;
  mode: BindMode | undefined;
  private inFlight = 0;
  private readonly bindTimer: NodeJS.Timeout;

  constructor(readonly connection: SmppSession, private readonly host: SessionHost, onClose: () => void) {
    this.bindTimer = setTimeout(() => {
      if (!this.account) connection.destroy();
    }, BIND_TIMEOUT_MS);
    connection.listen({
      onRequest: (pdu) => this.request(pdu),
      onClose: () => {
        clearTimeout(this.bindTimer);
        onClose();
      },
    });
  }

  get receives(): boolean {
    return this.mode === 'receiver' || this.mode === 'transceiver';
  }

  private request(pdu: IncomingPdu): void {
    const bindMode = BIND_COMMANDS[pdu.command];
    if (bindMode) {
      void this.bind(pdu, bindMode);
      return;
    }
    switch (pdu.command) {
      case 'enquire_link':
        this.connection.respond(pdu, CommandStatus.ESME_ROK);
        return;
      case 'unbind':
        this.connection.respond(pdu, CommandStatus.ESME_ROK);
        this.connection.close();
        return;
      case 'submit_sm':
      case 'data_sm':
      case 'submit_multi':
        void this.submit(pdu);
        return;
      default:
        this.connection.notify('generic_nack', { command_status: CommandStatus.ESME_RINVCMDID, sequence_number: pdu.sequence });
    }
  }

  private async bind(pdu: IncomingPdu, mode: BindMode): Promise<void> {
    if (this.account) {
      this.connection.respond(pdu, CommandStatus.ESME_RALYBND, { system_id: SERVER_SYSTEM_ID });
      return;
    }
    const systemId = pdu.text('system_id');
    let refusal: string | undefined;
    const account = await this.host.services.smppAccounts.authenticate(systemId, pdu.text('password')).catch(() => undefined);
    if (!account) refusal = 'unknown system_id or wrong password';
    else if (mode !== 'receiver' && !hasScope(callerFor(account.scopes), 'sms:send')) refusal = 'the account has no sms:send scope to submit with';
    else if (this.host.bindsOf(account.systemId) >= account.maxBinds) refusal = `the account already holds its ${account.maxBinds} binds`;
    if (refusal || !account) {
      processLog.warn(`smpp server: ${pdu.command} from ${this.connection.remoteAddress} as "${systemId}" refused: ${refusal}`);
      await new Promise((r) => setTimeout(r, BIND_FAIL_DELAY_MS));
      this.connection.respond(pdu, CommandStatus.ESME_RBINDFAIL, { system_id: SERVER_SYSTEM_ID });
      this.connection.close();
      return;
    }
    this.account = account;
    this.mode = mode;
    clearTimeout(this.bindTimer);
    this.connection.respond(pdu, CommandStatus.ESME_ROK, { system_id: SERVER_SYSTEM_ID });
    if (this.receives) this.host.receiverBound();
  }

  private async submit(pdu: IncomingPdu): Promise<void> {
    const responseCommand = pdu.command;
    const refuse = (status: number) => this.connection.respond(pdu, status, responseCommand === 'submit_multi' ? { message_id: '', unsuccess_sme: [] } : { message_id: '' });
    const account = this.account;
    if (!account || this.mode === 'receiver') return refuse(CommandStatus.ESME_RINVBNDSTS);
    if (this.inFlight >= SERVER_WINDOW) return refuse(CommandStatus.ESME_RMSGQFUL);
    if (!this.host.throughputOf(account).take()) return refuse(CommandStatus.ESME_RTHROTTLED);
    this.inFlight++;
    try {
      if (responseCommand === 'submit_multi') await this.submitMulti(pdu, account);
      else {
        const result = await this.submitOne(readSubmission(pdu, destinationOf(pdu)), account);
        this.connection.respond(pdu, result.status, { message_id: result.id ?? '' });
      }
    } finally {
      this.inFlight--;
    }
  }

  /** One answer naming the first message's id; destinations refused are listed with their status. */
  private async submitMulti(pdu: IncomingPdu, account: SmppAccount): Promise<void> {
    const unsuccessful: Array<{ dest_addr_ton: number; dest_addr_npi: number; destination_addr: string; error_status_code: number }> = [];
    let firstId: string | undefined;
    for (const entry of pdu.list('dest_address')) {
      if (typeof entry.destination_addr !== 'string') {
        // Distribution lists are the SMSC's own lists: we keep none.
        unsuccessful.push({ dest_addr_ton: 0, dest_addr_npi: 0, destination_addr: String(entry.dl_name ?? ''), error_status_code: CommandStatus.ESME_RINVDLNAME });
        continue;
      }
      const destination = { ton: Number(entry.dest_addr_ton ?? 0), npi: Number(entry.dest_addr_npi ?? 0), addr: entry.destination_addr };
      const result = await this.submitOne(readSubmission(pdu, destination), account);
      if (result.status === CommandStatus.ESME_ROK) firstId ??= result.id;
      else unsuccessful.push({ dest_addr_ton: destination.ton, dest_addr_npi: destination.npi, destination_addr: destination.addr, error_status_code: result.status });
    }
    const status = firstId === undefined ? (unsuccessful[0]?.error_status_code ?? CommandStatus.ESME_RINVNUMDESTS) : CommandStatus.ESME_ROK;
    this.connection.respond(pdu, status, { message_id: firstId ?? '', unsuccess_sme: unsuccessful });
  }

  /**
   * A part of a long text is held until its siblings come (answered with an id of its own); the
   * part that completes it sends the whole text and is answered with the message's id.
   */
  private async submitOne(submission: Submission, account: SmppAccount): Promise<{ status: number; id?: string }> {
    let octets = submission.octets;
    // Each part's own id and whether it asked for a receipt (Kannel asks on the first part only).
    let parts = [{ id: '', registeredDelivery: submission.registeredDelivery }];
    if (submission.concatenation) {
      const partId = newId('smp');
      const key = `${account.systemId}|${submission.source.addr}|${submission.destination.addr}`;
      const whole = this.host.parts.add(key, submission.concatenation, submission.octets, { id: partId, registeredDelivery: submission.registeredDelivery });
      if (!whole) return { status: CommandStatus.ESME_ROK, id: partId };
      octets = whole.octets;
      // The part completing the text is answered with the message's id ('' until it is known).
      parts = whole.parts.map((p) => (p.id === partId ? { ...p, id: '' } : p));
    }
    const asked = parts.filter((p) => p.registeredDelivery !== 0);
    // 1 (every final outcome) if any part asked for it, else 2 (failures only) if any did.
    const registeredDelivery = asked.some((p) => p.registeredDelivery === 1) ? 1 : asked.length > 0 ? 2 : 0;
    const systemId = account.systemId;
    let messageId: string;
    try {
      const { body } = await this.host.services.send.send(sendRequestFor(submission, octets), undefined, callerFor(account.scopes), {
        literal: true, submittedVia: `smpp:${systemId}`, smppReceipts: registeredDelivery !== 0,
      });
      messageId = body.messages[0].id;
    } catch (err) {
      const status = submitStatusFor(err);
      if (status === CommandStatus.ESME_RSYSERR) processLog.error(`smpp server: submit from "${systemId}" failed: ${(err as Error).message}`);
      return { status };
    }
    const ids = (asked.length > 0 ? asked : parts).map((p) => p.id || messageId);
    try {
      await this.host.services.commits.run((trx) => trx.insertInto('smpp_submissions').values({
        message_id: messageId, system_id: systemId, registered_delivery: registeredDelivery, part_ids: JSON.stringify(ids),
        source_ton: submission.source.ton, source_npi: submission.source.npi, source_addr: submission.source.addr,
        dest_ton: submission.destination.ton, dest_npi: submission.destination.npi, dest_addr: submission.destination.addr, created_at: Date.now(),
      }).execute());
    } catch (err) {
      // The message is accepted: answer so. Its receipt goes out with the message's own id and addresses.
      processLog.error(`smpp server: could not record submission ${messageId} for receipts: ${(err as Error).message}`);
    }
    return { status: CommandStatus.ESME_ROK, id: messageId };
  }
}
