import type { Insertable, Kysely, Selectable } from 'kysely';
import { newId } from '../domain/ids.js';
import { REPORTABLE_STATUSES } from '../domain/message-status.js';
import { insertRows, moveEach, statusLiteral, type ClaimedMessage, type MessageRow, type Transition, type TransitionSubject } from './message-store.js';
import type { Database, SendAttemptsTable } from './schema.js';
import { inList } from './statement-shapes.js';

type Db = Kysely<Database>;

/**
 * A claim of one message: the claim raised `claims` to this, and nothing else raises or lowers it
 * (recovery of a stale claim keeps it). A round that outlived its lease finds the message still
 * `sending` when recovery queued it again and another round claimed it since: `claims` tells its
 * claim from the newer one, which is not its to requeue, fail or mark sent.
 */
type Claim = Pick<MessageRow, 'id' | 'claims'>;

/** Updates that apply only while the message is still this claim. */
function claimed(db: Db, claim: Claim) {
  return db.updateTable('messages').where('id', '=', claim.id).where('status', '=', 'sending').where('claims', '=', claim.claims);
}

/**
 * Back in the queue untouched: not tried (its send would have started past the lease, or the dispatcher
 * stopped), attempt not counted. One UPDATE per few hundred; only what is still each claim.
 */
export async function releaseUnsent(db: Db, claims: Array<Claim & Pick<MessageRow, 'attempts'>>, now: number): Promise<void> {
  if (claims.length === 0) return;
  // The claim raised `attempts` and nothing else changes it while the claim holds: its value less one is the count before.
  await moveEach(db, claims.map((c) => ({ id: c.id, from: 'sending', claims: c.claims, set: { status: 'queued', lease_until: null, attempts: c.attempts - 1, updated_at: now } })));
}

/** Surely not taken: queued again for `provider` (the same, or the next of its route) at `dueAt`. False if recovery had it first. */
export async function requeue(db: Db, claim: Claim, to: { provider: string; dueAt: number; code: string; message: string }, now: number): Promise<boolean> {
  const result = await claimed(db, claim).set({
    status: 'queued', provider: to.provider, due_at: to.dueAt, lease_until: null, error_code: to.code, error_message: to.message, updated_at: now,
  }).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Maybe taken: left `sending` with its lease run out, for recovery to ask the provider. False if recovery had it first. */
export async function leaveForRecovery(db: Db, claim: Claim, code: string, message: string, now: number): Promise<boolean> {
  const result = await claimed(db, claim).set({ lease_until: now, error_code: code, error_message: message, updated_at: now }).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export interface AcceptedSend {
  message: ClaimedMessage;
  providerMessageId: string;
  /** One id per part when the provider reports parts one by one. */
  partIds?: string[];
  cost?: number;
  finishedAt: number;
  /** How long the send took: kept on the message, which stands for this attempt where markSent moves it. */
  durationMs: number;
}

/**
 * Everything a provider took, in one UPDATE per few hundred messages (CASE per id) rather than
 * one statement each: at thousands of messages a second the statements were the cost. The ids it
 * moved to `sent` are `moved`. The others were overtaken, rarely: by recovery once the claim's lease
 * ran out, which decided and recorded them, and they get nothing; or by their delivery report, and get
 * what that report could not know (the provider's id, the send time). Recovery's events tell the two
 * apart: after `claimedAt` only recovery of this claim writes them (an earlier claim's recovery queued
 * the message again at or before this claim). `stored`: the sends this call stored, moved or overtaken by a report.
 * A moved message keeps its send's duration (`send_ms`) and is that send's attempt: `moved` need no send_attempts row.
 */
export async function markSent(db: Db, accepted: AcceptedSend[], claimedAt: number, now: number): Promise<{ moved: Set<string>; stored: Set<string> }> {
  const moved = await moveEach(db, accepted.map((a) => ({
    id: a.message.id,
    from: 'sending' as const,
    claims: a.message.claims,
    set: {
      status: 'sent', lease_until: null, updated_at: now, sealed_body: null, error_code: null, error_message: null,
      provider_message_id: a.providerMessageId, sent_at: a.finishedAt, send_ms: a.durationMs,
      // Until the provider reports a price, the price table's is the best figure there is.
      cost: a.cost ?? a.message.estimated_cost,
    },
  })));
  const stored = new Set(moved);
  for (const a of accepted) {
    if (moved.has(a.message.id)) continue;
    // The report may have carried the provider's id already; the send time is ours to tell. Only in a status
    // a report sets, on this claim (not queued or claimed again), and not where recovery wrote events after it.
    const filled = await db.updateTable('messages')
      .set((eb) => ({ provider_message_id: eb.fn.coalesce('provider_message_id', eb.val(a.providerMessageId)), sent_at: a.finishedAt, lease_until: null, sealed_body: null }))
      .where('id', '=', a.message.id).where('status', 'in', [...REPORTABLE_STATUSES]).where('claims', '=', a.message.claims)
      .where(({ exists, not, selectFrom }) => not(exists(selectFrom('message_events').select('message_events.id')
        .whereRef('message_events.message_id', '=', 'messages.id').where('message_events.source', '=', 'recovery').where('message_events.created_at', '>', claimedAt))))
      .executeTakeFirst();
    if (Number(filled.numUpdatedRows) > 0) stored.add(a.message.id);
  }
  return { moved, stored };
}

/**
 * Of these messages, each just moved on from `sending` by the caller, those whose claim's `sending` event
 * is not written yet: the round writes it with the send's outcome, so until then the latest event is an
 * older one (or there is none: acceptance is not an event row). Whoever moves such a message on first (a
 * delivery report, recovery) writes it, just ahead of its own change. Ask after the move, which holds the
 * row: on PostgreSQL a round that wrote the event (leaving the send to recovery) may commit until then.
 * Latest by number, which follows each message's history; times can disagree across hosts' clocks.
 */
export async function unrecordedClaims(db: Db, ids: string[]): Promise<Set<string>> {
  const latest = new Map<string, string>();
  for (let i = 0; i < ids.length; i += 500) {
    const events = await db.selectFrom('message_events').select(['message_id', 'status']).where('message_id', 'in', inList(ids.slice(i, i + 500)))
      .orderBy('id', 'desc').execute();
    for (const e of events) if (!latest.has(e.message_id)) latest.set(e.message_id, e.status);
  }
  return new Set(ids.filter((id) => latest.get(id) !== 'sending'));
}

/**
 * The claim's `sending` event, written late by whoever acts on the claim first, stamped with the claim's
 * time: the round knows it; the others read it from updated_at, which the claim set and nothing changes
 * while the claim's event is unwritten (`claimedAtOf`).
 */
export function claimEvent(message: TransitionSubject, claimedAt: number, detail: string | null = null): Transition {
  return { message, from: 'queued', to: 'sending', source: 'dispatcher', detail, at: claimedAt };
}

/** A claim's time read back from the message, never after the change its event is written ahead of. */
export function claimedAtOf(message: Pick<MessageRow, 'updated_at'>, changeAt: number): number {
  return Math.min(message.updated_at, changeAt);
}

/** Every send attempt, whatever came of it: shown as `send_attempts` on the message. */
export async function recordSendAttempts(db: Db, attempts: Array<Omit<Insertable<SendAttemptsTable>, 'id'>>): Promise<void> {
  await insertRows(db, 'send_attempts', attempts.map((a) => ({ id: newId('att', a.created_at), ...a })));
}

/** The parts a provider reports one by one, so a multipart message's status can be built from them. */
export async function recordParts(db: Db, provider: string, messageId: string, partIds: string[], now: number): Promise<void> {
  // A part already reported keeps the status its report gave it.
  await db.insertInto('message_parts').values(partIds.map((part_id) => ({ provider, part_id, message_id: messageId, status: 'sent', updated_at: now })))
    .onConflict((oc) => oc.columns(['provider', 'part_id']).doNothing()).execute();
}

/**
 * A message's send attempts, oldest first: the stored rows, and the accepted send that markSent moved to `sent`,
 * which is the message itself (provider, provider_message_id, sent_at, send_ms). Every message sent would
 * otherwise store those fields twice, in a row that with its two indexes took ~230 bytes.
 */
export async function findSendAttempts(
  db: Db, message: Pick<MessageRow, 'id' | 'provider' | 'provider_message_id' | 'sent_at' | 'send_ms'>,
): Promise<Array<Omit<Selectable<SendAttemptsTable>, 'id' | 'message_id'>>> {
  const stored = await db.selectFrom('send_attempts').select(['provider', 'outcome', 'provider_message_id', 'error_code', 'provider_error_code', 'error_message', 'duration_ms', 'created_at'])
    .where('message_id', '=', message.id).orderBy('created_at').orderBy('id').execute();
  if (message.send_ms == null || message.sent_at === null) return stored;
  const accepted = {
    provider: message.provider, outcome: 'accepted' as const, provider_message_id: message.provider_message_id,
    error_code: null, provider_error_code: null, error_message: null, duration_ms: message.send_ms, created_at: message.sent_at,
  };
  // Every other attempt came before it: after a provider takes a message nothing sends it again.
  return [...stored, accepted];
}

/** Queued messages of a provider that have other providers on their route: candidates to go around an open circuit. */
export async function queuedWithAlternatives(db: Db, provider: string, limit: number, now: number): Promise<MessageRow[]> {
  return db.selectFrom('messages').selectAll()
    .where('status', '=', statusLiteral('queued')).where('provider', '=', provider).where('due_at', '<=', now).where('route', 'is not', null)
    .orderBy('priority').orderBy('due_at').limit(limit).execute();
}

/** Moves a queued message to another provider, unless someone claimed or moved it meanwhile. */
export async function moveToProvider(db: Db, id: string, from: string, to: string, now: number): Promise<boolean> {
  const result = await db.updateTable('messages').set({ provider: to, updated_at: now })
    .where('id', '=', id).where('status', '=', 'queued').where('provider', '=', from).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
