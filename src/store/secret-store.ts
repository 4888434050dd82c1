import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * A server secret generated on first use and kept in the database, for installs that
 * configured none: every process sharing the database then agrees on it.
 */
export async function persistedSecret(db: Kysely<Database>, name: string, bytes = 32): Promise<Buffer> {
  const existing = await db.selectFrom('secrets').select('value').where('name', '=', name).executeTakeFirst();
  if (existing) return Buffer.from(existing.value, 'base64');
  const value = randomBytes(bytes).toString('base64');
  // Two processes starting at once: the first insert wins and both read it back.
  await db.insertInto('secrets').values({ name, value, created_at: Date.now() }).onConflict((oc) => oc.column('name').doNothing()).execute();
  const stored = await db.selectFrom('secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow();
  return Buffer.from(stored.value, 'base64');
}
