import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { SCOPES, type Scope } from '../domain/api-keys.js';
import { ConflictError, NotFoundError, ValidationError, type FieldError } from '../domain/errors.js';
import type { Database, SmppAccountsTable } from '../store/schema.js';

/** SMPP 3.4 field sizes: system_id is a 16-octet C string, password a 9-octet one. */
export const MAX_SYSTEM_ID_LENGTH = 16;
export const MAX_PASSWORD_LENGTH = 8;
export const DEFAULT_THROUGHPUT_PER_SECOND = 100;
export const DEFAULT_MAX_BINDS = 4;

export interface NewSmppAccount {
  system_id: string;
  password: string;
  throughput_per_second?: number;
  max_binds?: number;
  scopes?: Scope[];
}

export interface SmppAccount {
  systemId: string;
  throughputPerSecond: number;
  maxBinds: number;
  scopes: Scope[];
}

function accountView(row: Selectable<SmppAccountsTable>) {
  return {
    system_id: row.system_id,
    throughput_per_second: row.throughput_per_second,
    max_binds: row.max_binds,
    scopes: JSON.parse(row.scopes) as Scope[],
    created_at: new Date(Number(row.created_at)).toISOString(),
  };
}

/**
 * The logins ESMEs bind with. SMPP passwords are at most 8 characters, too short to be API keys,
 * so accounts are records of their own: a keyed hash of the password (the key never in the
 * database), scopes, a throughput and a bind limit.
 */
export class SmppAccountService {
  private readonly hashKey: Buffer;

  constructor(private readonly db: Kysely<Database>, serverKey: Buffer) {
    this.hashKey = Buffer.from(hkdfSync('sha256', serverKey, Buffer.alloc(0), 'sms-gateway smpp password hash', 32));
  }

  async create(input: NewSmppAccount) {
    const errors: FieldError[] = [];
    if (!/^[\x21-\x7e]+$/.test(input.system_id) || input.system_id.length > MAX_SYSTEM_ID_LENGTH) {
      errors.push({ field: 'system_id', message: `must be 1-${MAX_SYSTEM_ID_LENGTH} printable ASCII characters without spaces` });
    }
    if (!/^[\x20-\x7e]+$/.test(input.password) || input.password.length > MAX_PASSWORD_LENGTH) {
      errors.push({ field: 'password', message: `must be 1-${MAX_PASSWORD_LENGTH} printable ASCII characters (SMPP 3.4)` });
    }
    for (const [i, scope] of (input.scopes ?? []).entries()) {
      if (!(SCOPES as readonly string[]).includes(scope)) errors.push({ field: `scopes[${i}]`, message: `must be one of ${SCOPES.join(', ')}` });
    }
    if (errors.length > 0) throw new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);
    const row: SmppAccountsTable = {
      system_id: input.system_id,
      password_hash: this.hash(input.system_id, input.password),
      throughput_per_second: input.throughput_per_second ?? DEFAULT_THROUGHPUT_PER_SECOND,
      max_binds: input.max_binds ?? DEFAULT_MAX_BINDS,
      scopes: JSON.stringify([...new Set(input.scopes ?? ['sms:send'])]),
      created_at: Date.now(),
    };
    const existing = await this.db.selectFrom('smpp_accounts').select('system_id').where('system_id', '=', row.system_id).executeTakeFirst();
    if (existing) throw new ConflictError(`SMPP account ${row.system_id} already exists`);
    try {
      await this.db.insertInto('smpp_accounts').values(row).execute();
    } catch (err) {
      // Two creations at once: the loser's insert breaks the primary key.
      if (await this.db.selectFrom('smpp_accounts').select('system_id').where('system_id', '=', row.system_id).executeTakeFirst()) {
        throw new ConflictError(`SMPP account ${row.system_id} already exists`);
      }
      throw err;
    }
    return accountView(row);
  }

  async list() {
    const rows = await this.db.selectFrom('smpp_accounts').selectAll().orderBy('created_at').orderBy('system_id').execute();
    return { items: rows.map(accountView) };
  }

  async get(systemId: string) {
    const row = await this.db.selectFrom('smpp_accounts').selectAll().where('system_id', '=', systemId).executeTakeFirst();
    if (!row) throw new NotFoundError('SMPP account', systemId);
    return accountView(row);
  }

  async delete(systemId: string): Promise<void> {
    const result = await this.db.deleteFrom('smpp_accounts').where('system_id', '=', systemId).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw new NotFoundError('SMPP account', systemId);
  }

  /** The account these credentials open, or undefined (unknown system_id or wrong password: the caller cannot tell which). */
  async authenticate(systemId: string, password: string): Promise<SmppAccount | undefined> {
    const row = await this.db.selectFrom('smpp_accounts').selectAll().where('system_id', '=', systemId).executeTakeFirst();
    const offered = Buffer.from(this.hash(systemId, password), 'hex');
    // Compared even for an unknown system_id, so timing does not tell which ids exist.
    const stored = Buffer.from(row?.password_hash ?? this.hash('', '\u0000'), 'hex');
    const matches = timingSafeEqual(offered, stored);
    if (!row || !matches) return undefined;
    return { systemId: row.system_id, throughputPerSecond: row.throughput_per_second, maxBinds: row.max_binds, scopes: JSON.parse(row.scopes) as Scope[] };
  }

  /** Whether the account still exists (a deleted account's binds are dropped). */
  async exists(systemId: string): Promise<boolean> {
    return (await this.db.selectFrom('smpp_accounts').select('system_id').where('system_id', '=', systemId).executeTakeFirst()) !== undefined;
  }

  private hash(systemId: string, password: string): string {
    return createHmac('sha256', this.hashKey).update(`${systemId}\u0000${password}`).digest('hex');
  }
}
