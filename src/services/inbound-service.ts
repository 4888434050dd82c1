import type { FieldCipher } from '../domain/field-cipher.js';
import type { Kysely, Selectable } from 'kysely';
import type { Config } from '../config.js';
import { ValidationError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { keywordAction, normalisedKeyword } from '../domain/opt-out-keywords.js';
import { normalisePhone } from '../domain/phone.js';
import type { InboundSms } from '../providers/provider.js';
import type { GroupCommit } from '../store/group-commit.js';
import type { Database, InboundMessagesTable } from '../store/schema.js';
import { deleteOptOut, insertOptOut } from './opt-out-service.js';

export interface InboundQuery {
  from?: string;
  limit?: number;
  offset?: number;
}

/** POST /api/inbound: what a client reports it received. */
export interface GenericInbound {
  from: string;
  to?: string;
  text: string;
  provider?: string;
}

export interface InboundView {
  id: string;
  from: string;
  to: string | null;
  text: string;
  provider: string | null;
  provider_message_id: string | null;
  action: 'opt_out' | 'opt_in' | null;
  received_at: string;
}

const E164 = /^\+[1-9]\d{6,14}$/;

/**
 * Inbound messages and the opt-outs their keywords make. Every read and write of a message body
 * is in this file, so that storing bodies differently (encrypted) is a change in one place.
 */
export class InboundService {
  constructor(
    private readonly config: Pick<Config, 'phoneValidation' | 'defaultCountry'>,
    /** Where the list is read (on SQLite, a read thread: counting every inbound message stays off the event loop). */
    private readonly reads: Kysely<Database>,
    private readonly commits: GroupCommit,
    private readonly cipher: FieldCipher,
  ) {}

  /** From a client: `from` must be a phone number (422 naming it), since only a number can opt out. */
  async recordGeneric(input: GenericInbound): Promise<InboundView> {
    const from = normalisePhone(input.from, this.config.defaultCountry, this.config.phoneValidation);
    if (!from.ok) throw new ValidationError(`from is not a usable phone number: ${from.reason}`, [{ field: 'from', message: from.reason }]);
    const { view } = await this.store({ from: from.phone.e164, to: input.to, text: input.text }, input.provider ?? null);
    return view;
  }

  /**
   * From a provider's webhook, whose signature was checked. Nothing here is refused: the provider
   * would only retry it. A sender that is not a number (an alphanumeric id, a short code) is kept
   * as written and opts nothing out. `duplicate`: the provider sent this message before (a retry).
   */
  async recordFromProvider(provider: string, sms: InboundSms): Promise<{ view: InboundView; duplicate: boolean }> {
    return this.store({ ...sms, from: this.lenientNumber(sms.from) }, provider);
  }

  async list(q: InboundQuery) {
    const limit = q.limit ?? 50;
    const offset = q.offset ?? 0;
    let base = this.reads.selectFrom('inbound_messages');
    if (q.from !== undefined) base = base.where('from_number', '=', this.lenientNumber(q.from));
    const [rows, total] = await Promise.all([
      // Newest first along inbound_time (migration 0021), or inbound_from for one sender.
      base.selectAll().orderBy('received_at', 'desc').orderBy('id', 'desc').limit(limit).offset(offset).execute(),
      base.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map((row) => view(row, this.cipher)), total: Number(total.n), limit, offset };
  }

  private async store(sms: InboundSms, provider: string | null): Promise<{ view: InboundView; duplicate: boolean }> {
    const now = Date.now();
    // Parts of a long text are never keywords; nor is anything from a sender we could not send to.
    const action = sms.part === undefined && E164.test(sms.from) ? keywordAction(sms.text) ?? null : null;
    const row: InboundMessagesTable = {
      id: newId('inb', now),
      from_number: sms.from,
      to_number: sms.to === undefined ? null : this.lenientNumber(sms.to),
      body: this.cipher.seal(sms.text),
      provider,
      provider_message_id: sms.providerMessageId ?? null,
      action,
      received_at: sms.receivedAt ?? now,
    };
    return this.commits.run(async (trx) => {
      if (provider !== null && row.provider_message_id !== null) {
        // Providers resend what they think we did not take (Vonage for 24 h): record and act once.
        const seen = await trx.selectFrom('inbound_messages').selectAll()
          .where('from_number', '=', row.from_number).where('provider', '=', provider).where('provider_message_id', '=', row.provider_message_id)
          .executeTakeFirst();
        if (seen) return { view: view(seen, this.cipher), duplicate: true };
      }
      await trx.insertInto('inbound_messages').values(row).execute();
      if (action === 'opt_out') {
        await insertOptOut(trx, { number: row.from_number, reason: normalisedKeyword(sms.text), source: provider === null ? 'inbound' : `inbound:${provider}`, created_at: now });
      } else if (action === 'opt_in') {
        await deleteOptOut(trx, row.from_number);
      }
      return { view: view(row, this.cipher), duplicate: false };
    });
  }

  /** E.164 when it is a number (checked as the config says, else by shape alone), else as written. */
  private lenientNumber(raw: string): string {
    const checked = normalisePhone(raw, this.config.defaultCountry, this.config.phoneValidation);
    if (checked.ok) return checked.phone.e164;
    const shaped = normalisePhone(raw, this.config.defaultCountry, 'format');
    return shaped.ok ? shaped.phone.e164 : raw.trim();
  }
}

function view(row: Selectable<InboundMessagesTable>, cipher: FieldCipher): InboundView {
  return {
    id: row.id,
    from: row.from_number,
    to: row.to_number,
    text: cipher.open(row.body),
    provider: row.provider,
    provider_message_id: row.provider_message_id,
    action: row.action === 'opt_out' || row.action === 'opt_in' ? row.action : null,
    received_at: new Date(Number(row.received_at)).toISOString(),
  };
}
