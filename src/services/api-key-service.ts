import { hkdfSync } from 'node:crypto';
import type { Kysely } from 'kysely';
import { accountSid, apiKeyHash, generateApiKey, type Caller, type Scope } from '../domain/api-keys.js';
import { NotFoundError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { Database } from '../store/schema.js';

const TOUCH_INTERVAL_MS = 60_000;

function keyView(row: { id: string; name: string; scopes: string; created_at: number; last_used_at: number | null; revoked_at: number | null }) {
  return {
    id: row.id, name: row.name, scopes: JSON.parse(row.scopes) as Scope[], account_sid: accountSid(row.id),
    created_at: new Date(row.created_at).toISOString(),
    last_used_at: row.last_used_at === null ? null : new Date(row.last_used_at).toISOString(),
    revoked_at: row.revoked_at === null ? null : new Date(row.revoked_at).toISOString(),
  };
}

/**
 * API keys: stored only as a keyed hash, shown once at creation. Every request looks its key up
 * in the database, so a revocation holds at once in every process sharing it.
 */
export class ApiKeyService {
  private readonly hashKey: Buffer;
  private readonly touched = new Map<string, number>();

  constructor(private readonly db: Kysely<Database>, otpHashKey: Buffer) {
    // Derived, not stored: the key file stays the one place secrets live.
    this.hashKey = Buffer.from(hkdfSync('sha256', otpHashKey, Buffer.alloc(0), 'sms-gateway api key hash', 32));
  }

  async create(name: string, scopes: Scope[]) {
    const key = generateApiKey();
    const now = Date.now();
    const row = { id: newId('key', now), name, scopes: JSON.stringify([...new Set(scopes)]), key_hash: apiKeyHash(this.hashKey, key), created_at: now, last_used_at: null, revoked_at: null };
    await this.db.insertInto('api_keys').values(row).execute();
    return { ...keyView(row), key };
  }

  async list() {
    const rows = await this.db.selectFrom('api_keys').selectAll().orderBy('created_at').execute();
    return { items: rows.map(keyView) };
  }

  async revoke(id: string) {
    const now = Date.now();
    const result = await this.db.updateTable('api_keys').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) {
      const row = await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw new NotFoundError('API key', id);
      return keyView(row);
    }
    return keyView((await this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirstOrThrow()));
  }

  /** The caller a key stands for, or undefined when it is unknown or revoked. */
  async authenticate(key: string): Promise<Caller | undefined> {
    const row = await this.db.selectFrom('api_keys').select(['id', 'scopes', 'revoked_at']).where('key_hash', '=', apiKeyHash(this.hashKey, key)).executeTakeFirst();
    if (!row || row.revoked_at !== null) return undefined;
    const now = Date.now();
    // last_used_at to the minute: a write per request would cost more than the request.
    if (now - (this.touched.get(row.id) ?? 0) > TOUCH_INTERVAL_MS) {
      this.touched.set(row.id, now);
      await this.db.updateTable('api_keys').set({ last_used_at: now }).where('id', '=', row.id).execute();
    }
    return { keyId: row.id, scopes: JSON.parse(row.scopes) as Scope[] };
  }
}
