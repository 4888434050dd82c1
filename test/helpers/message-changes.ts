import fc from 'fast-check';
import type { Kysely } from 'kysely';
import { MESSAGE_STATUSES } from '../../src/domain/message-status.js';
import type { Database } from '../../src/store/schema.js';

/**
 * Property tests of the running totals on `messages` (message_totals, batch_totals): random changes to
 * the messages, then the totals compared with a count of the rows.
 */

/** Which stored messages a change touches, `picks` taken modulo their number; none while the table is empty. */
export async function pickMessages(db: Kysely<Database>, picks: number[]): Promise<string[]> {
  const ids = (await db.selectFrom('messages').select('id').orderBy('id').execute()).map((r) => r.id);
  if (ids.length === 0) return [];
  // Several rows in one statement, some of them perhaps already as asked: as the dispatcher and reports write.
  return [...new Set(picks.map((p) => ids[p % ids.length]))];
}

export const picks = fc.array(fc.nat(), { minLength: 1, maxLength: 6 });

/** An index into MESSAGE_STATUSES. */
export const statusIndex = fc.nat({ max: MESSAGE_STATUSES.length - 1 });

/**
 * The changes every totals table must follow besides its own: several messages' status (the common
 * change, weighted so), leases (which move no total) and deletes.
 */
export type CommonChange = { kind: 'status'; picks: number[]; status: number } | { kind: 'lease'; picks: number[] } | { kind: 'delete'; picks: number[] };
export const commonChanges: Array<fc.WeightedArbitrary<CommonChange>> = [
  { arbitrary: fc.record({ kind: fc.constant('status' as const), picks, status: statusIndex }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('lease' as const), picks }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('delete' as const), picks }), weight: 1 },
];
const COMMON_KINDS: ReadonlySet<string> = new Set(['status', 'lease', 'delete']);
export const isCommonChange = <C extends { kind: string }>(c: C | CommonChange): c is CommonChange => COMMON_KINDS.has(c.kind);

export async function applyCommon(db: Kysely<Database>, c: CommonChange, at: number) {
  const chosen = await pickMessages(db, c.picks);
  if (chosen.length === 0) return;
  if (c.kind === 'status') await db.updateTable('messages').set({ status: MESSAGE_STATUSES[c.status] }).where('id', 'in', chosen).execute();
  else if (c.kind === 'lease') await db.updateTable('messages').set({ lease_until: at }).where('id', 'in', chosen).execute();
  else await db.deleteFrom('messages').where('id', 'in', chosen).execute();
}

/**
 * 50 runs: the messages emptied (through the same DELETE triggers the retention purge meets), then the
 * changes made in one transaction (a batch's statements; PostgreSQL's shard taken once) or each on its own,
 * then `check`.
 */
export async function checkAfterChanges<C>(db: Kysely<Database>, change: fc.Arbitrary<C>, apply: (db: Kysely<Database>, c: C) => Promise<void>, check: () => Promise<void>) {
  await fc.assert(fc.asyncProperty(fc.array(change, { minLength: 1, maxLength: 12 }), fc.boolean(), async (changes, together) => {
    await db.deleteFrom('messages').execute();
    if (together) await db.transaction().execute(async (trx) => { for (const c of changes) await apply(trx, c); });
    else for (const c of changes) await apply(db, c);
    await check();
  }), { numRuns: 50, endOnFailure: true });
}
