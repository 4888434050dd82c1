import type { Kysely } from 'kysely';
import type { GroupCommit } from './group-commit.js';
import type { Database } from './schema.js';

const DAY_MS = 24 * 3600 * 1000;

export interface StoredResponse {
  request_hash: string;
  status_code: number;
  response: string;
}

export async function findIdempotentResponse(db: Kysely<Database>, key: string, now: number): Promise<StoredResponse | undefined> {
  return db
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'status_code', 'response'])
    .where('key', '=', key)
    .where('created_at', '>', now - DAY_MS)
    .executeTakeFirst();
}

/** Stores the reply in the same transaction as the work it describes. Throws on a key taken within the window. */
export async function saveIdempotentResponse(db: Kysely<Database>, key: string, requestHash: string, statusCode: number, response: unknown, now: number): Promise<void> {
  // An expired key may be reused: clear it first so the primary key does not refuse it.
  await db.deleteFrom('idempotency_keys').where('key', '=', key).where('created_at', '<=', now - DAY_MS).execute();
  await db.insertInto('idempotency_keys').values({ key, request_hash: requestHash, status_code: statusCode, response: JSON.stringify(response), created_at: now }).execute();
}

/**
 * Deletes up to `batch` replies older than the 24 h a key answers for, oldest first (found on
 * `idempotency_keys_created`); returns how many went. Nothing else removes them: a key is replaced only
 * when it is used again.
 */
export async function purgeExpiredResponses(commits: GroupCommit, now: number, batch: number): Promise<number> {
  return commits.run(async (trx) => {
    const deleted = await trx.deleteFrom('idempotency_keys')
      .where('key', 'in', (eb) => eb.selectFrom('idempotency_keys').select('key').where('created_at', '<=', now - DAY_MS).orderBy('created_at').limit(batch))
      .executeTakeFirst();
    return Number(deleted.numDeletedRows);
  });
}
