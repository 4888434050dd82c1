import { PostgresAdapter, sql, type Insertable, type RawBuilder, type Kysely, type Selectable } from 'kysely';
import type { FieldCipher } from '../domain/field-cipher.js';
import { idBoundary, newId } from '../domain/ids.js';
import type { MessageStatus } from '../domain/message-status.js';
import type { DialectName } from './database.js';
import type { BatchesTable, Database, MessagesTable, StoredMessagesTable } from './schema.js';
import { storedTotal } from './message-totals.js';
import { inList, powerOfTwoChunks } from './statement-shapes.js';
import { executeCompiled } from './sqlite-transactions.js';

export type MessageRow = Selectable<StoredMessagesTable>;
export type BatchRow = Selectable<BatchesTable>;
type Db = Kysely<Database>;

/** SQLite allows 32,766 bound parameters per statement, PostgreSQL 65,535. */
const MAX_PARAMS = 30_000;
const insertTexts = new Map<string, string>();

/**
 * Multi-row insert. The SQL for a given table, column list and row count is written once and
 * reused with fresh parameters. Rows go in chunks of power-of-two counts, so a table has a handful
 * of insert statements (statement-shapes.ts).
 */
export async function insertRows<T extends keyof Database>(db: Db, table: T, rows: Insertable<Database[T]>[]): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]) as Array<keyof typeof rows[0]>;
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  for (const slice of powerOfTwoChunks(rows, Math.floor(MAX_PARAMS / columns.length))) {
    const key = `${postgres ? 'pg' : 'sqlite'}|${String(table)}|${columns.join(',')}|${slice.length}`;
    let text = insertTexts.get(key);
    if (text === undefined) {
      text = insertText(postgres, String(table), columns as string[], slice.length);
      insertTexts.set(key, text);
    }
    const parameters: unknown[] = [];
    for (const row of slice) for (const c of columns) parameters.push(row[c] ?? null);
    await executeCompiled(db, text, parameters);
  }
}

/**
 * An insert of `rows` rows, written out rather than compiled by Kysely: for the 512-row statement
 * of a campaign, Kysely's compile took 13 ms the first time in a process (1.2 ms once warm), on
 * the event loop inside the insert's transaction. The names are our own tables' and columns',
 * quoted as both databases quote them; only the placeholders differ.
 */
export function insertText(postgres: boolean, table: string, columns: string[], rows: number): string {
  // Written into the SQL as they are: only plain names (ours) may come here.
  for (const name of [table, ...columns]) if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain SQL name: ${name}`);
  let n = 0;
  const tuple = () => `(${columns.map(() => (postgres ? `$${++n}` : '?')).join(', ')})`;
  return `insert into "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) values ${Array.from({ length: rows }, tuple).join(', ')}`;
}

/** SQL types of the columns `moveEach` sets: PostgreSQL cannot infer a parameter's type in a CASE branch. */
const MOVE_COLUMN_TYPES: Partial<Record<keyof MessagesTable, string>> = {
  status: 'text', updated_at: 'bigint', sent_at: 'bigint', final_at: 'bigint', lease_until: 'bigint', sealed_body: 'text',
  error_code: 'text', error_message: 'text', provider_message_id: 'text', cost: 'double precision', attempts: 'integer',
  send_ms: 'integer',
};

/** A row that keeps the column as it is. */
const KEEP = Symbol('keep');

/**
 * One value for every row, or a CASE per id when rows differ (rows marked KEEP keep the column
 * `keep`). A branch for every row, so the statement's text depends only on the chunk's length
 * and on which columns vary, which keeps its shapes few (statement-shapes.ts).
 */
function valuePerId<T>(rows: Array<{ id: string; value: T | typeof KEEP }>, type: string, keep: string): RawBuilder<T> {
  const first = rows[0].value;
  if (first !== KEEP && rows.every((r) => r.value === first)) return sql<T>`cast(${first} as ${sql.raw(type)})`;
  const cases = rows.map((r) => (r.value === KEEP ? sql`when ${r.id} then ${sql.ref(keep)}` : sql`when ${r.id} then cast(${r.value} as ${sql.raw(type)})`));
  return sql<T>`case id ${sql.join(cases, sql` `)} else ${sql.ref(keep)} end`;
}

/**
 * Changes each message as given, if it is still in the status `from`: one UPDATE per few hundred
 * messages instead of one each. Returns the ids it changed.
 */
export async function moveEach(db: Db, moves: Array<{ id: string; from: MessageStatus; claims?: number; set: Partial<MessagesTable> }>): Promise<Set<string>> {
  const moved = new Set<string>();
  for (const chunk of powerOfTwoChunks(moves, 256)) {
    const columns = [...new Set(chunk.flatMap((m) => Object.keys(m.set)))] as Array<keyof MessagesTable>;
    const set = Object.fromEntries(columns.map((column) => {
      const type = MOVE_COLUMN_TYPES[column];
      if (!type) throw new Error(`moveEach cannot set ${String(column)}`);
      return [column, valuePerId(chunk.map((m) => ({ id: m.id, value: column in m.set ? m.set[column] ?? null : KEEP })), type, column)];
    }));
    const expected = valuePerId(chunk.map((m) => ({ id: m.id, value: m.from })), 'text', 'status');
    let query = db.updateTable('messages').set(set).where('id', 'in', chunk.map((m) => m.id)).where('status', '=', expected);
    // A claim's moves only while the message is still that claim (dispatch-store.ts, Claim); a move without one compares `claims` with itself.
    if (chunk.some((m) => m.claims !== undefined)) query = query.where('claims', '=', valuePerId(chunk.map((m) => ({ id: m.id, value: m.claims ?? KEEP })), 'integer', 'claims'));
    const rows = await query.returning('id').execute();
    for (const { id } of rows) moved.add(id);
  }
  return moved;
}

/** The part of a message a status change needs for its event and its callback. */
export interface TransitionSubject {
  id: string;
  batch_id: string;
  custom_id: string | null;
  callback_url: string | null;
}

export interface Transition {
  message: TransitionSubject;
  from: MessageStatus | null;
  to: MessageStatus;
  source: string;
  detail?: string | null;
  errorCode?: string | null;
  at: number;
}

/**
 * Writes the event of each status change and, for messages with a callback_url, the callback
 * to deliver: in the caller's transaction, so a change and its notification are stored together.
 */
export async function recordTransitions(db: Db, transitions: Transition[], notify = true): Promise<void> {
  if (transitions.length === 0) return;
  await insertRows(db, 'message_events', transitions.map((t) => ({
    message_id: t.message.id,
    status: t.to,
    previous_status: t.from,
    source: t.source,
    detail: t.detail ?? null,
    created_at: t.at,
  })));
  if (!notify) return;
  const callbacks = transitions.filter((t) => t.message.callback_url);
  if (callbacks.length === 0) return;
  await insertRows(db, 'callbacks', callbacks.map((t) => ({
    id: newId('cbk', t.at),
    message_id: t.message.id,
    url: t.message.callback_url!,
    payload: JSON.stringify({
      event: 'message.status',
      message_id: t.message.id,
      batch_id: t.message.batch_id,
      custom_id: t.message.custom_id,
      status: t.to,
      previous_status: t.from,
      error_code: t.errorCode ?? null,
      timestamp: new Date(t.at).toISOString(),
      // `metadata` is added at delivery from the message's batch: stored here it would sit in clear beside the change.
    }),
    status: 'pending' as const,
    attempts: 0,
    next_attempt_at: t.at,
    lease_until: null,
    last_error: null,
    created_at: t.at,
    updated_at: t.at,
  })));
}

/**
 * The metadata of each batch: a request's metadata is stored once on its batch, not copied
 * onto every message (a 1,000-recipient batch would store it 1,000 times).
 */
export async function batchMetadata(db: Db, batchIds: string[]): Promise<Map<string, string | null>> {
  const ids = [...new Set(batchIds)];
  const found = new Map<string, string | null>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db.selectFrom('batches').select(['id', 'metadata']).where('id', 'in', inList(ids.slice(i, i + 500))).execute();
    for (const r of rows) found.set(r.id, r.metadata);
  }
  return found;
}

/** Stored metadata (sealed, or plain from before encryption) as the API shows it. */
export function parseMetadata(stored: string | null, cipher: FieldCipher): Record<string, unknown> {
  return stored ? JSON.parse(cipher.open(stored)) as Record<string, unknown> : {};
}

/** What moveStatus returns of each message it moved: its transition's subject, and what the counters are kept by. */
export interface MovedMessage extends TransitionSubject {
  provider: string;
  sms_type: MessagesTable['sms_type'];
}

const MOVED_COLUMNS = ['id', 'batch_id', 'custom_id', 'callback_url', 'provider', 'sms_type'] as const;

/**
 * A status written into the SQL rather than bound, for statements on `messages` that filter by status.
 * messages_queue (migration 0011) is a partial index (`where status = 'queued'`). To learn whether a
 * bound `status = ?` matches that condition, SQLite reads the value while it compiles, and marks the
 * statement to be compiled again whenever the parameter is bound, which better-sqlite3 does at every
 * run. An UPDATE's compile includes every trigger on `messages`: ~300 µs at each run, against ~45 µs
 * for its work on no rows. A literal keeps one compiled statement per status. (A statement that also
 * names one id, `id = ?`, is planned on the primary key before any partial index is looked at, and
 * may bind its status.)
 */
export function statusLiteral(status: MessageStatus) {
  return sql.lit(status);
}

/**
 * Moves every message matching `filter` to `to`, one statement per previous status so each
 * recorded change knows where it came from (at most `filter.limit` per status, with `dueBefore` or
 * `expiredBefore`). Call it inside a transaction. Returns the moved messages.
 * `earlierChange`: a change a moved message made before this one but whose event is not written yet
 * (the claim's `sending`, which the dispatcher writes with the send's outcome). Asked once the UPDATE
 * holds the row, and written just ahead of this change, so event numbers follow the message's history.
 */
export async function moveStatus(
  db: Db,
  filter: { ids?: string[]; batchId?: string; from: MessageStatus[]; dueBefore?: number; expiredBefore?: number; claims?: number; limit?: number },
  to: MessageStatus,
  source: string,
  now: number,
  extra: Partial<MessagesTable> = {},
  detail: string | null = null,
  earlierChange?: (message: MovedMessage) => Transition | undefined | Promise<Transition | undefined>,
): Promise<MovedMessage[]> {
  const moved: MovedMessage[] = [];
  for (const from of filter.from) {
    let query = db.updateTable('messages').set({ ...extra, status: to, updated_at: now }).where('status', '=', statusLiteral(from));
    if (filter.ids) query = query.where('id', 'in', filter.ids);
    if (filter.batchId) query = query.where('batch_id', '=', filter.batchId);
    if (filter.claims !== undefined) query = query.where('claims', '=', filter.claims);
    if (filter.limit === undefined) {
      if (filter.dueBefore !== undefined) query = query.where('due_at', '<=', filter.dueBefore);
      if (filter.expiredBefore !== undefined) query = query.where('expire_at', '<=', filter.expiredBefore);
    } else {
      // At most `limit` of them, the earliest due (or expired) first: one move then holds the write lock for a chunk, not for
      // every message of the campaigns that came due together. The chunk is chosen on the partial index of its status (the
      // status as a literal lets the planner use it); the update then goes by id, not along the whole range again.
      let chunk = db.selectFrom('messages').select('id').where('status', '=', statusLiteral(from));
      if (filter.dueBefore !== undefined) chunk = chunk.where('due_at', '<=', filter.dueBefore).orderBy('due_at');
      if (filter.expiredBefore !== undefined) chunk = chunk.where('expire_at', '<=', filter.expiredBefore).orderBy('expire_at');
      query = query.where('id', 'in', chunk.limit(filter.limit));
    }
    const changed = await query.returning(MOVED_COLUMNS).execute();
    const transitions: Transition[] = [];
    for (const m of changed) {
      const earlier = await earlierChange?.(m);
      if (earlier) transitions.push(earlier);
      transitions.push({ message: m, from, to, source, detail, errorCode: extra.error_code ?? null, at: now });
    }
    await recordTransitions(db, transitions);
    moved.push(...changed);
  }
  return moved;
}

export async function findMessage(db: Db, id: string): Promise<MessageRow | undefined> {
  return db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findEvents(db: Db, messageId: string) {
  return db.selectFrom('message_events').selectAll().where('message_id', '=', messageId).orderBy('created_at').orderBy('id').execute();
}

export interface MessageFilter {
  status?: MessageStatus;
  sms_type?: string;
  provider?: string;
  batch_id?: string;
  to?: string;
  date_from?: number;
  date_to?: number;
  /** Only this key's messages. */
  key_id?: string;
}

/** A page: `offset` rows skipped, or (keyset) the rows after the id `after` in newest-first order. */
export type PageStart = { offset: number } | { after: string };

export async function listMessages(db: Db, filter: MessageFilter, limit: number, start: PageStart) {
  let q = db.selectFrom('messages');
  if (filter.status) q = q.where('status', '=', statusLiteral(filter.status));
  if (filter.sms_type) q = q.where('sms_type', '=', filter.sms_type);
  if (filter.provider) q = q.where('provider', '=', filter.provider);
  if (filter.batch_id) q = q.where('batch_id', '=', filter.batch_id);
  if (filter.to) q = q.where('to_number', '=', filter.to);
  if (filter.key_id !== undefined) q = q.where('key_id', '=', filter.key_id);
  // Message ids begin with their creation time, so a date range is a primary-key range.
  if (filter.date_from !== undefined) q = q.where('id', '>=', idBoundary('msg', filter.date_from, 'first'));
  if (filter.date_to !== undefined) q = q.where('id', '<=', idBoundary('msg', filter.date_to, 'last'));
  // Every filter has an index ending in the id (migration 0007): a page is a seek. The count is a sum over
  // message_totals when that can answer it, an index scan otherwise (message-totals.ts).
  const countedByTotals = filter.batch_id === undefined && filter.to === undefined && filter.date_from === undefined && filter.date_to === undefined;
  const count = () => countedByTotals
    ? storedTotal(db, filter)
    : q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow().then((r) => Number(r.n));
  // An offset is a walk along the index, one entry per row skipped (45-67 ms for 900,000 rows). Past the
  // middle the page is found by walking from the oldest end instead, which needs the total first: worth
  // it when the total is a sum over message_totals. A count from the index walks every matching row
  // anyway, so there the page is read beside it, as before.
  const newestFirst = 'after' in start
    ? () => q.selectAll().where('id', '<', start.after).orderBy('id', 'desc').limit(limit).execute()
    : () => q.selectAll().orderBy('id', 'desc').limit(limit).offset(start.offset).execute();
  if ('after' in start || start.offset === 0 || !countedByTotals) {
    const [items, total] = await Promise.all([newestFirst(), count()]);
    return { items, total };
  }
  // Rows that join or leave the list between the two reads (newer ones, purged old ones, ones whose
  // status moves them in or out of a status filter) shift the page by as many, as they would shift it
  // between two requests.
  const total = await count();
  if (start.offset >= total) return { items: [], total };
  if (start.offset * 2 <= total) return { items: await newestFirst(), total };
  // Newest-first positions offset .. offset + limit - 1 are oldest-first positions total - offset - limit .. total - offset - 1.
  const olderRows = Math.max(0, total - start.offset - limit);
  const items = await q.selectAll().orderBy('id', 'asc').limit(total - start.offset - olderRows).offset(olderRows).execute();
  return { items: items.reverse(), total };
}

/** A message's providers in order: its stored route, or the one provider it was accepted for. */
export function routeOf(message: Pick<MessageRow, 'route' | 'provider'>): string[] {
  return message.route ? JSON.parse(message.route) as string[] : [message.provider];
}

export async function findBatch(db: Db, id: string): Promise<BatchRow | undefined> {
  const row = await db.selectFrom('batches').selectAll().where('id', '=', id).executeTakeFirst();
  if (row) return row;
  const messages = await db.selectFrom('messages').selectAll().where('batch_id', '=', id).limit(2).execute();
  return messages.length === 1 ? oneMessageBatch(messages[0]) : undefined;
}

/**
 * The batch of a one-recipient send or of an OTP, which stores no batch row (send-service.ts): its one
 * message holds everything the row would. Its status is what the row kept (scheduled when accepted for
 * later, else queued; `send` makes no drafts), except that a canceled message, however canceled, makes a
 * canceled batch: a row said so only after a cancel of the batch.
 */
function oneMessageBatch(m: MessageRow): BatchRow {
  const status = m.status === 'canceled' ? 'canceled' : m.schedule_at !== null && m.schedule_at > m.created_at ? 'scheduled' : 'queued';
  return {
    id: m.batch_id, name: null, kind: 'single', status, sms_type: m.sms_type, message_type: m.message_type,
    // The provider it was accepted for: a failover moves the message on along its route.
    provider: routeOf(m)[0],
    template_id: m.template_id, schedule_at: m.schedule_at, expire_at: m.expire_at, callback_url: m.callback_url,
    total_recipients: 1, accepted: 1, rejected: 0, duplicates: 0, total_segments: m.segments, estimated_cost: m.estimated_cost,
    currency: m.currency, metadata: m.metadata, created_at: m.created_at, updated_at: m.updated_at, key_id: m.key_id,
  };
}

/**
 * What a round reads of each message it claims: what the send needs, what its outcome is decided on, and its
 * transition's subject. Not the whole row: a 40-property object per message, with its metadata and times,
 * cost the dispatch thread ~3.5 µs more a message, inside its write turn (bench/RESULTS.md, fourteenth pass).
 */
const CLAIMED_COLUMNS = [
  'id', 'batch_id', 'custom_id', 'callback_url', 'provider', 'route', 'sms_type', 'priority', 'due_at', 'expire_at', 'attempts', 'claims',
  'to_number', 'from_number', 'body', 'sealed_body', 'message_type', 'encoding', 'segments', 'estimated_cost',
] as const;
export type ClaimedMessage = Pick<MessageRow, typeof CLAIMED_COLUMNS[number]>;

/**
 * Claims up to `limit` due messages of one provider for sending, most urgent first. The
 * claim is one UPDATE, so two workers never take the same message; the lease says how
 * long the claim holds before recovery may take the message back.
 */
export async function claimDue(db: Db, dialect: DialectName, provider: string, limit: number, now: number, leaseUntil: number): Promise<ClaimedMessage[]> {
  let due = db
    .selectFrom('messages')
    .select('id')
    .where('status', '=', statusLiteral('queued'))
    .where('provider', '=', provider)
    .where('due_at', '<=', now)
    .orderBy('priority')
    .orderBy('due_at')
    .orderBy('id')
    .limit(limit);
  if (dialect === 'postgres') due = due.forUpdate().skipLocked();
  const rows = await db
    .updateTable('messages')
    .set((eb) => ({ status: 'sending', attempts: eb('attempts', '+', 1), claims: eb('claims', '+', 1), lease_until: leaseUntil, updated_at: now }))
    .where('id', 'in', due)
    .returning(CLAIMED_COLUMNS)
    .execute();
  // Ids grow with acceptance time: equal priority and due time go first come, first served.
  rows.sort((a, b) => a.priority - b.priority || a.due_at - b.due_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return rows;
}

/** Sends whose lease ran out: the worker died, or never heard back from the provider. */
export async function claimStale(db: Db, dialect: DialectName, limit: number, now: number, leaseUntil: number): Promise<MessageRow[]> {
  let stale = db.selectFrom('messages').select('id').where('status', '=', statusLiteral('sending')).where('lease_until', '<', now).limit(limit);
  if (dialect === 'postgres') stale = stale.forUpdate().skipLocked();
  // updated_at is left as the claim wrote it: recovery dates the claim's missing event by it.
  return db.updateTable('messages').set({ lease_until: leaseUntil }).where('id', 'in', stale).returningAll().execute();
}

export async function countByStatus(db: Db, statuses: MessageStatus[]): Promise<number> {
  const row = await db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).where('status', 'in', statuses).executeTakeFirstOrThrow();
  return Number(row.n);
}
