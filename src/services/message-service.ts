import type { Kysely } from 'kysely';
import { isAdmin, OPERATOR, owns, type Caller } from '../domain/api-keys.js';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.js';
import type { FieldCipher } from '../domain/field-cipher.js';
import { PENDING_STATUSES, type MessageStatus } from '../domain/message-status.js';
import { normalisePhone } from '../domain/phone.js';
import type { Config } from '../config.js';
import type { GroupCommit } from '../store/group-commit.js';
import { batchMetadata, findEvents, findMessage, listMessages, moveStatus, type MessageFilter } from '../store/message-store.js';
import type { Database } from '../store/schema.js';
import { eventView, messageView, sendAttemptView } from './message-views.js';
import { findSendAttempts } from '../store/dispatch-store.js';

export interface ListQuery {
  status?: MessageStatus;
  sms_type?: string;
  provider?: string;
  batch_id?: string;
  to?: string;
  date_from?: string;
  date_to?: string;
  limit?: number;
  offset?: number;
  cursor?: string;
}

export class MessageService {
  /**
   * `reads`: where the message log and a message's details are read (on SQLite, a read thread:
   * src/store/read-thread/). Each read is a statement of its own, after any commit whose reply came before it.
   */
  constructor(
    private readonly config: Config, private readonly db: Kysely<Database>, private readonly commits: GroupCommit, private readonly cipher: FieldCipher,
    private readonly reads: Kysely<Database> = db,
  ) {}

  /** A key without `admin` sees only its own messages; another key's answers like one that does not exist. */
  async get(id: string, caller: Caller = OPERATOR) {
    const message = await findMessage(this.reads, id);
    if (!message || !owns(caller, message.key_id)) throw new NotFoundError('message', id);
    const [events, shared, attempts] = await Promise.all([findEvents(this.reads, id), batchMetadata(this.reads, [message.batch_id]), findSendAttempts(this.reads, message)]);
    // Acceptance is not written as an event (it would cost the send path a row per message);
    // it is the message row itself: its first status is where the first change started, or the current one.
    const created = { status: events[0]?.previous_status ?? message.status, previous_status: null, source: 'api', detail: null, created_at: message.created_at };
    return { ...messageView(message, shared.get(message.batch_id) ?? null, this.cipher), send_attempts: attempts.map(sendAttemptView), events: [created, ...events].map(eventView) };
  }

  async list(query: ListQuery, caller: Caller = OPERATOR) {
    const limit = query.limit ?? 50;
    const offset = query.offset ?? 0;
    if (query.cursor !== undefined && offset > 0) {
      throw new ValidationError('cursor and offset cannot be combined: the cursor already says where the page starts', [{ field: 'offset', message: 'must be 0 (or left out) with cursor' }]);
    }
    const filter: MessageFilter = {
      status: query.status,
      sms_type: query.sms_type,
      provider: query.provider,
      batch_id: query.batch_id,
      date_from: query.date_from ? Date.parse(query.date_from) : undefined,
      date_to: query.date_to ? Date.parse(query.date_to) : undefined,
      key_id: isAdmin(caller) ? undefined : caller.keyId ?? undefined,
    };
    if (query.to) {
      const phone = normalisePhone(query.to, this.config.defaultCountry, 'format');
      filter.to = phone.ok ? phone.phone.e164 : query.to;
    }
    const { items, total } = await listMessages(this.reads, filter, limit, query.cursor !== undefined ? { after: query.cursor } : { offset });
    const shared = await batchMetadata(this.reads, items.filter((m) => m.metadata === null).map((m) => m.batch_id));
    // The last row's id: the next page is what sorts after it. A short page is the last.
    const nextCursor = items.length === limit ? items[items.length - 1].id : null;
    return { items: items.map((m) => messageView(m, shared.get(m.batch_id) ?? null, this.cipher)), total, limit, offset, next_cursor: nextCursor };
  }

  /** Cancels a message that no provider has seen yet; once handed over it can't be called back. */
  async cancel(id: string, caller: Caller = OPERATOR) {
    await this.get(id, caller);
    const now = Date.now();
    const moved = await this.commits.run((trx) => moveStatus(trx, { ids: [id], from: [...PENDING_STATUSES] }, 'canceled', 'api', now, { final_at: now, lease_until: null, sealed_body: null }));
    if (moved.length === 0) {
      const message = await findMessage(this.db, id);
      if (!message) throw new NotFoundError('message', id);
      if (message.status !== 'canceled') throw new ConflictError(`message ${id} is ${message.status}: it has been handed to a provider or is final, and can't be canceled`);
    }
    return this.get(id, caller);
  }
}
