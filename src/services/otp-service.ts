import { sql, type Kysely, type Selectable } from 'kysely';
import type { Config } from '../config.js';
import { ConflictError, NotFoundError, RateLimitedError, ValidationError } from '../domain/errors.js';
import type { Caller } from '../domain/api-keys.js';
import type { FieldCipher } from '../domain/field-cipher.js';
import type { PumpingGuard } from '../domain/pumping-guard.js';
import { idBoundary, newId } from '../domain/ids.js';
import { metadataProblems, serialiseMetadata } from '../domain/metadata.js';
import { codeMatches, generateCode, hashCode, normaliseEntered, otpText } from '../domain/otp.js';
import { normalisePhone } from '../domain/phone.js';
import type { GroupCommit } from '../store/group-commit.js';
import { insertRows } from '../store/message-store.js';
import { PreparedStatement } from '../store/prepared-statement.js';
import type { Database, OtpSessionsTable } from '../store/schema.js';
import type { SendService, TemplateForSend } from './send-service.js';
import type { TemplateService } from './template-service.js';
import type { OtpStats } from './analytics-service.js';

export interface OtpGenerateRequest {
  phone_number: { number: string; country_code?: string; name?: string };
  length?: number;
  expiry_minutes?: number;
  alphanumeric?: boolean;
  custom_message?: string;
  template_id?: string;
  metadata?: Record<string, unknown>;
}

export interface OtpVerifyRequest {
  phone_number: { number: string; country_code?: string };
  otp_code: string;
  session_id?: string;
}

type Session = Selectable<OtpSessionsTable>;
const HOUR_MS = 3_600_000;
/** First key of the PostgreSQL advisory locks that serialise one number's codes (the second: a hash of the number). */
const NUMBER_LOCK_KEY = 710_334_512;
const SESSION_COLUMNS = [
  'id', 'phone_number', 'status', 'code_hash', 'alphanumeric', 'code_length', 'expiry_seconds', 'expires_at', 'failed_attempts', 'max_attempts',
  'resends', 'last_sent_at', 'message_id', 'template_id', 'custom_message', 'metadata', 'verified_at', 'created_at', 'updated_at', 'key_id',
] as const satisfies ReadonlyArray<keyof OtpSessionsTable>;
// Every column, so a column added to the table without being added here fails to compile.
type Missing = Exclude<keyof OtpSessionsTable, typeof SESSION_COLUMNS[number]>;
const allColumns: Missing extends never ? true : Missing = true;
void allColumns;

/** What a verify needs of a session. */
const CHECKED_COLUMNS = ['id', 'status', 'code_hash', 'alphanumeric', 'expires_at', 'failed_attempts', 'max_attempts'] as const;
type CheckedSession = Pick<Session, typeof CHECKED_COLUMNS[number]>;

/** This hour's OTP messages to a number. Ids begin with the creation time: the same hour as an id range seeks the (to_number, id) index. */
function hourOfCodes(db: Kysely<Database>, number: string, since: number, firstId: string) {
  return db.selectFrom('messages').where('to_number', '=', number).where('created_at', '>', since).where('sms_type', '=', 'otp').where('id', '>=', firstId);
}

/**
 * The statements of the OTP hot paths, compiled once (see PreparedStatement). A generate is, on
 * SQLite, four statements in the group commit: the session (inserted only while the number is
 * under its hourly cap: the count is part of the insert), the supersede, the batch, the message.
 */
class OtpStatements {
  /** Inserts the session unless the number already had `max` OTP messages this hour; 0 rows inserted = refused. */
  readonly insertUnderCap = new PreparedStatement((db, ...args: unknown[]) => {
    const [number, since, firstId, max, ...values] = args;
    const count = hourOfCodes(db, number as string, since as number, firstId as string).select((eb) => eb.fn.countAll().as('n'));
    return sql`insert into ${sql.table('otp_sessions')} (${sql.join(SESSION_COLUMNS.map((c) => sql.ref(c)))}) select ${sql.join(values)} where (${count}) < ${max}`;
  });

  /** The oldest of this hour's codes, for a refusal's Retry-After. */
  readonly hour = new PreparedStatement((db, number: string, since: number, firstId: string) =>
    hourOfCodes(db, number, since, firstId).select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min<number>('created_at').as('oldest')]));

  /** Every other pending session of the number: only the latest code works. */
  readonly supersede = new PreparedStatement((db, now: number, number: string, keep: string) =>
    db.updateTable('otp_sessions').set({ status: 'superseded', updated_at: now }).where('phone_number', '=', number).where('status', '=', 'pending').where('id', '<>', keep));

  /** What a verify reads of the number's pending session. */
  readonly latestPending = new PreparedStatement((db, number: string) =>
    db.selectFrom('otp_sessions').select(CHECKED_COLUMNS).where('phone_number', '=', number).where('status', '=', 'pending').orderBy('created_at', 'desc').limit(1));

  /** The same of a named session, only if it is the number's. */
  readonly checkedById = new PreparedStatement((db, number: string, id: string) =>
    db.selectFrom('otp_sessions').select(CHECKED_COLUMNS).where('phone_number', '=', number).where('id', '=', id));

  readonly byNumberAndId = new PreparedStatement((db, number: string, id: string) =>
    db.selectFrom('otp_sessions').selectAll().where('phone_number', '=', number).where('id', '=', id));

  /** Guarded on the state read: of two racing verifies exactly one succeeds. */
  readonly markVerified = new PreparedStatement((db, now: number, id: string, failedAttempts: number) =>
    db.updateTable('otp_sessions').set({ status: 'verified', verified_at: now, updated_at: now })
      .where('id', '=', id).where('status', '=', 'pending').where('failed_attempts', '=', failedAttempts));

  readonly countFailure = new PreparedStatement((db, failed: number, status: string, now: number, id: string, failedAttempts: number) =>
    db.updateTable('otp_sessions').set({ failed_attempts: failed, status: status as 'pending', updated_at: now })
      .where('id', '=', id).where('status', '=', 'pending').where('failed_attempts', '=', failedAttempts));

  readonly markExpired = new PreparedStatement((db, now: number, id: string) =>
    db.updateTable('otp_sessions').set({ status: 'expired', updated_at: now }).where('id', '=', id).where('status', '=', 'pending'));

  /** PostgreSQL only: one number's generates and resends one after the other (SQLite has one writer at a time anyway). */
  readonly lockNumber = new PreparedStatement((_db, number: string) => sql`select pg_advisory_xact_lock(${sql.lit(NUMBER_LOCK_KEY)}, hashtext(${number}))`);
}

/**
 * One-time passcodes in the manner of Twilio Verify. The code exists in clear only in
 * memory and on the air: the database keeps an HMAC of it and the message body masked.
 */
export class OtpService {
  constructor(
    private readonly config: Config,
    private readonly db: Kysely<Database>,
    private readonly commits: GroupCommit,
    private readonly send: SendService,
    private readonly templates: TemplateService,
    private readonly hashKey: Buffer,
    private readonly cipher: FieldCipher,
    /** Told of every code sent and verified, to catch SMS pumping (its policy refuses the codes). */
    private readonly pumping?: PumpingGuard,
    /** Where the counts for analytics are read (on SQLite, a read thread: src/store/read-thread/). */
    private readonly reads: Kysely<Database> = db,
  ) {
    this.postgres = !config.databaseUrl.startsWith('sqlite:');
  }

  private readonly statements = new OtpStatements();
  private readonly postgres: boolean;

  async generate(input: OtpGenerateRequest, caller: Caller) {
    const phone = this.phone(input.phone_number.number, input.phone_number.country_code, 'phone_number.number');
    const metadataErrors = metadataProblems(input.metadata);
    if (metadataErrors.length > 0) throw new ValidationError(metadataErrors.map((e) => `${e.field} ${e.message}`).join('; '), metadataErrors);
    const length = input.length ?? this.config.otp.defaultLength;
    const expirySeconds = input.expiry_minutes !== undefined ? input.expiry_minutes * 60 : this.config.otp.defaultExpirySeconds;
    const alphanumeric = input.alphanumeric ?? false;
    const template = input.template_id !== undefined ? await this.templates.forSend(input.template_id) : undefined;
    const now = Date.now();
    await this.send.screen({ e164: phone.e164, country: phone.country, smsType: 'otp', keyId: caller.keyId }, 'phone_number.number', now);
    const sessionId = newId('otp', now);
    const code = generateCode(length, alphanumeric);
    const message = this.message(code, expirySeconds, template, input.custom_message, input.phone_number.name, phone, input.metadata, now, caller.keyId);
    const session: OtpSessionsTable = {
      id: sessionId,
      phone_number: phone.e164,
      status: 'pending',
      code_hash: hashCode(this.hashKey, sessionId, code),
      alphanumeric: alphanumeric ? 1 : 0,
      code_length: length,
      expiry_seconds: expirySeconds,
      expires_at: now + expirySeconds * 1000,
      failed_attempts: 0,
      max_attempts: this.config.otp.maxAttempts,
      resends: 0,
      last_sent_at: now,
      message_id: message.message.id,
      template_id: template?.id ?? null,
      custom_message: input.custom_message ?? null,
      metadata: this.cipher.sealOrNull(serialiseMetadata(input.metadata)),
      verified_at: null,
      created_at: now,
      updated_at: now,
      key_id: caller.keyId,
    };
    // A refusal is answered, not thrown, inside the job: it is decided before anything is written,
    // so the job needs no savepoint of its own in the group commit (`mayFail`).
    const refused = await this.commits.run(async (trx) => {
      if (this.postgres) await this.statements.lockNumber.execute(trx, phone.e164);
      const since = now - HOUR_MS;
      const firstId = idBoundary('msg', since, 'first');
      const values = SESSION_COLUMNS.map((c) => session[c]);
      const inserted = await this.statements.insertUnderCap.execute(trx, phone.e164, since, firstId, this.config.otp.maxPerNumberPerHour, ...values);
      if (Number(inserted.numAffectedRows ?? 0) === 0) return await this.hourlyLimit(trx, phone.e164, now) ?? new Error('OTP session not stored, yet the number is under its hourly cap');
      // A new code supersedes whatever was pending for the number: only the latest works.
      await this.statements.supersede.execute(trx, now, phone.e164, sessionId);
      await this.store(trx, message, template, now);
      return undefined;
    });
    if (refused) throw refused;
    this.send.queued();
    this.pumping?.generated(phone.country, now);
    return this.view(session, now);
  }

  async verify(input: OtpVerifyRequest) {
    const phone = this.phone(input.phone_number.number, input.phone_number.country_code, 'phone_number.number');
    // Not found is answered after the job (it wrote nothing): no savepoint needed (see generate).
    const outcome = await this.commits.run(async (trx) => {
      const now = Date.now();
      const found = input.session_id !== undefined
        ? await this.statements.checkedById.execute(trx, phone.e164, input.session_id)
        : await this.statements.latestPending.execute(trx, phone.e164);
      const session = found.rows[0] as CheckedSession | undefined;
      // A session of another number answers exactly like one that does not exist.
      if (!session) return undefined;
      const state = this.state(session, now);
      const result = (verified: boolean, status: string, reason?: string, remaining = session.max_attempts - session.failed_attempts) => ({
        verified, session_id: session.id, status, attempts_remaining: Math.max(0, remaining), ...(reason ? { reason } : {}),
      });
      if (state === 'expired') {
        if (session.status === 'pending') await this.statements.markExpired.execute(trx, now, session.id);
        return result(false, 'expired', session.status === 'superseded' ? 'superseded by a newer code' : 'code expired');
      }
      if (state === 'verified') return result(false, 'verified', 'already verified: a code verifies once');
      if (state === 'locked') return result(false, 'locked', 'too many wrong codes', 0);

      const entered = normaliseEntered(input.otp_code, session.alphanumeric === 1);
      if (codeMatches(this.hashKey, session.id, entered, session.code_hash)) {
        // Guarded on the state read above: of two racing verifies exactly one succeeds.
        const won = await this.statements.markVerified.execute(trx, now, session.id, session.failed_attempts);
        if (Number(won.numAffectedRows) === 1) return result(true, 'verified');
        return result(false, 'verified', 'already verified: a code verifies once');
      }
      const failed = session.failed_attempts + 1;
      const locked = failed >= session.max_attempts;
      const counted = await this.statements.countFailure.execute(trx, failed, locked ? 'locked' : 'pending', now, session.id, session.failed_attempts);
      if (Number(counted.numAffectedRows) === 0) return result(false, 'pending', 'concurrent attempt: try again');
      return locked ? result(false, 'locked', 'too many wrong codes', 0) : result(false, 'pending', 'wrong code', session.max_attempts - failed);
    });
    if (!outcome) throw new NotFoundError('verification session', input.session_id ?? `for ${phone.e164}`);
    // Once committed: a verify that rolled back proves nothing about the country's traffic.
    if (outcome.verified) this.pumping?.verified(phone.country, Date.now());
    return outcome;
  }

  async resend(sessionId: string) {
    const session = await this.db.selectFrom('otp_sessions').selectAll().where('id', '=', sessionId).executeTakeFirst();
    if (!session) throw new NotFoundError('verification session', sessionId);
    const template = session.template_id ? await this.templates.forSend(session.template_id) : undefined;
    const now = Date.now();
    const code = generateCode(session.code_length, session.alphanumeric === 1);
    const phone = this.phone(session.phone_number, undefined, 'session_id');
    const metadata = session.metadata ? JSON.parse(this.cipher.open(session.metadata)) : undefined;
    const message = this.message(code, session.expiry_seconds, template, session.custom_message ?? undefined, undefined, phone, metadata, now, session.key_id);
    // Refusals are decided before anything is written and thrown after the job (see generate).
    const updated = await this.commits.run(async (trx) => {
      if (this.postgres) await this.statements.lockNumber.execute(trx, session.phone_number);
      const current = (await this.statements.byNumberAndId.execute(trx, session.phone_number, sessionId)).rows[0] as Session;
      const state = this.state(current, now);
      if (state !== 'pending') return new ConflictError(`session ${sessionId} is ${state}: request a new code with /api/otp/generate`);
      if (current.resends >= this.config.otp.maxResends) return new ConflictError(`session ${sessionId} has had its ${this.config.otp.maxResends} resends`);
      // Without a cooldown nothing is refused here: a concurrent resend may have stored a last_sent_at later than this request's `now`.
      const cooldownMs = this.config.otp.resendCooldownSeconds * 1000;
      const wait = current.last_sent_at + cooldownMs - now;
      if (cooldownMs > 0 && wait > 0) return new RateLimitedError(`a code was sent less than ${this.config.otp.resendCooldownSeconds} s ago`, wait / 1000);
      const limited = await this.hourlyLimit(trx, current.phone_number, now);
      if (limited) return limited;
      await this.store(trx, message, template, now);
      // The old code stops working, expiry restarts, wrong attempts are kept (no fresh tries by resending).
      const next = {
        code_hash: hashCode(this.hashKey, sessionId, code), expires_at: now + current.expiry_seconds * 1000, resends: current.resends + 1,
        last_sent_at: now, message_id: message.message.id, updated_at: now,
      };
      await trx.updateTable('otp_sessions').set(next).where('id', '=', sessionId).execute();
      return { ...current, ...next };
    });
    if (updated instanceof Error) throw updated;
    this.send.queued();
    return this.view(updated, now);
  }

  /**
   * Ends a pending session without a code: `approved` when the application verified the person
   * some other way, `canceled` when it gave up (Twilio Verify's Status=approved / canceled); a
   * canceled code stops working as an expired one does. False when the session was no longer
   * pending. An approval is not told to the pumping guard: no code came back, and a caller could
   * otherwise lift its own country's throttle by approving its own sessions.
   */
  async close(sessionId: string, outcome: 'approved' | 'canceled'): Promise<boolean> {
    const now = Date.now();
    const changes = outcome === 'approved'
      ? { status: 'verified' as const, verified_at: now, updated_at: now }
      : { status: 'expired' as const, updated_at: now };
    const result = await this.commits.run((trx) => trx.updateTable('otp_sessions').set(changes)
      .where('id', '=', sessionId).where('status', '=', 'pending').where('expires_at', '>', now).executeTakeFirst());
    return Number(result.numUpdatedRows) === 1;
  }

  async get(sessionId: string) {
    const session = await this.db.selectFrom('otp_sessions').selectAll().where('id', '=', sessionId).executeTakeFirst();
    if (!session) throw new NotFoundError('verification session', sessionId);
    const now = Date.now();
    return {
      ...this.view(session, now),
      attempts_remaining: Math.max(0, session.max_attempts - session.failed_attempts),
      resends: session.resends,
      resends_remaining: Math.max(0, this.config.otp.maxResends - session.resends),
      verified_at: session.verified_at === null ? null : new Date(session.verified_at).toISOString(),
      created_at: new Date(session.created_at).toISOString(),
      metadata: session.metadata ? JSON.parse(this.cipher.open(session.metadata)) : {},
    };
  }

  /** Counted in SQL over the sessions created in the window. */
  async stats(from: number | undefined, to: number | undefined): Promise<OtpStats> {
    const now = Date.now();
    let q = this.reads.selectFrom('otp_sessions');
    if (from !== undefined) q = q.where('created_at', '>=', from);
    if (to !== undefined) q = q.where('created_at', '<=', to);
    const row = await q.select((eb) => [
      eb.fn.countAll<number>().as('generated'),
      eb.fn.sum<number>(eb.case().when('status', '=', 'verified').then(1).else(0).end()).as('verified'),
      eb.fn.sum<number>(eb.case().when(eb.or([eb('status', '=', 'expired'), eb.and([eb('status', '=', 'pending'), eb('expires_at', '<=', now)])])).then(1).else(0).end()).as('expired'),
      eb.fn.sum<number>(eb.case().when('status', '=', 'locked').then(1).else(0).end()).as('locked'),
    ]).executeTakeFirstOrThrow();
    return {
      generated: Number(row.generated ?? 0), verified: Number(row.verified ?? 0), expired: Number(row.expired ?? 0), locked: Number(row.locked ?? 0),
      ...(this.pumping ? { pumping: this.pumping.view(now) } : {}),
    };
  }

  private phone(number: string, country: string | undefined, field: string) {
    const result = normalisePhone(number, country ?? this.config.defaultCountry, this.config.phoneValidation);
    if (!result.ok) throw new ValidationError(`${field} ${result.reason}`, [{ field, message: result.reason }]);
    return { e164: result.phone.e164, country: result.phone.country ?? country?.toUpperCase() };
  }

  private message(code: string, expirySeconds: number, template: TemplateForSend | undefined, custom: string | undefined, name: string | undefined,
    phone: { e164: string; country: string | undefined }, metadata: Record<string, unknown> | undefined, now: number, keyId: string | null) {
    const text = otpText(code, Math.ceil(expirySeconds / 60), { template: template?.content, custom }, name !== undefined ? { name } : {});
    if (!text.ok) throw new ValidationError(`${text.field} ${text.message}`, [{ field: text.field, message: text.message }]);
    if ([...text.text].length > this.config.maxMessageLength) throw new ValidationError('OTP message too long', [{ field: 'custom_message', message: `is longer than MAX_MESSAGE_LENGTH (${this.config.maxMessageLength})` }]);
    return this.send.prepareOtpMessage(phone, text.text, text.masked, template, metadata, now, now + expirySeconds * 1000, keyId);
  }

  private async store(trx: Kysely<Database>, message: ReturnType<SendService['prepareOtpMessage']>, template: TemplateForSend | undefined, now: number) {
    await insertRows(trx, 'messages', [message.message]);
    if (template) await this.templates.recordUse(trx, template.id, 1, now);
  }

  /** The refusal when the number has had its codes for this hour, else undefined. */
  private async hourlyLimit(trx: Kysely<Database>, number: string, now: number): Promise<RateLimitedError | undefined> {
    const since = now - HOUR_MS;
    const { rows: [row] } = await this.statements.hour.execute(trx, number, since, idBoundary('msg', since, 'first'));
    if (Number(row.n) < this.config.otp.maxPerNumberPerHour) return undefined;
    return new RateLimitedError(`at most ${this.config.otp.maxPerNumberPerHour} codes per number per hour`, (Number(row.oldest) + HOUR_MS - now) / 1000);
  }

  /** Pending past its expiry is expired, whether or not a verify has written that down yet. */
  private state(s: Pick<Session, 'status' | 'expires_at'>, now: number): 'pending' | 'verified' | 'expired' | 'locked' {
    if (s.status === 'superseded' || s.status === 'expired') return 'expired';
    if (s.status === 'pending' && now >= s.expires_at) return 'expired';
    return s.status;
  }

  private view(s: OtpSessionsTable, now: number) {
    return {
      session_id: s.id,
      phone_number: s.phone_number,
      status: this.state(s, now),
      expires_at: new Date(s.expires_at).toISOString(),
      attempts_allowed: s.max_attempts,
      resend_available_at: new Date(s.last_sent_at + this.config.otp.resendCooldownSeconds * 1000).toISOString(),
      message_id: s.message_id,
    };
  }
}
