import type { Kysely } from 'kysely';
import type { FieldCipher } from '../domain/field-cipher.js';
import type { Database } from './schema.js';

/** Every stored column that holds a user's text or metadata, sealed by FieldCipher. */
const SEALED_COLUMNS = [
  ['messages', 'id', 'body'], ['messages', 'id', 'sealed_body'], ['messages', 'id', 'metadata'],
  ['batches', 'id', 'metadata'], ['otp_sessions', 'id', 'metadata'],
  ['simulator_outbox', 'id', 'body'], ['inbound_messages', 'id', 'body'],
  // The keys Twilio-format callbacks are signed with (src/twilio-compat/status-callback.ts).
  ['twilio_auth_tokens', 'key_id', 'sealed_token'],
] as const;

/**
 * Re-seals every value not yet under the cipher's current key (older keys, or text from before
 * encryption), in small batches so the gateway keeps sending meanwhile. Each update is guarded on
 * the value it read, so a row changed in between is left for the next pass, never overwritten.
 */
export async function reencryptAll(db: Kysely<Database>, cipher: FieldCipher, batch = 500): Promise<Record<string, number>> {
  const done: Record<string, number> = {};
  const anyDb = db as unknown as Kysely<Record<string, Record<string, string | null>>>;
  for (const [table, idColumn, column] of SEALED_COLUMNS) {
    let count = 0;
    let after = '';
    for (;;) {
      const rows = await anyDb.selectFrom(table).select([idColumn, column]).where(column, 'is not', null).where(idColumn, '>', after)
        .orderBy(idColumn).limit(batch).execute();
      if (rows.length === 0) break;
      after = String(rows[rows.length - 1][idColumn]);
      for (const row of rows) {
        const value = row[column] as string;
        if (cipher.isCurrent(value)) continue;
        const updated = await anyDb.updateTable(table).set({ [column]: cipher.seal(cipher.open(value)) })
          .where(idColumn, '=', row[idColumn]).where(column, '=', value).executeTakeFirst();
        count += Number(updated.numUpdatedRows);
      }
    }
    done[`${table}.${column}`] = count;
  }
  return done;
}
