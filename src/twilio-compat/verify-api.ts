import type { Kysely, Selectable } from 'kysely';
import type { Config } from '../config.js';
import { accountSid, type Caller } from '../domain/api-keys.js';
import { AppError } from '../domain/errors.js';
import { normalisePhone } from '../domain/phone.js';
import type { OtpService } from '../services/otp-service.js';
import type { GroupCommit } from '../store/group-commit.js';
import type { Database, VerificationsTable, VerifyServicesTable } from '../store/schema.js';
import { iso8601 } from './dates.js';
import { invalidParameter, notFound, TwilioError } from './errors.js';
import type { Form } from './message-api.js';
import { OPERATOR_ACCOUNT_SID, randomSid } from './sids.js';

/** Who a Verify request speaks for: the key (its services and verifications), or the keyless operator. */
export interface VerifyAccount {
  sid: string;
  keyId: string | null;
  caller: Caller;
}

export function verifyAccount(caller: Caller): VerifyAccount {
  return { sid: caller.keyId === null ? OPERATOR_ACCOUNT_SID : accountSid(caller.keyId), keyId: caller.keyId, caller };
}

type Service = Selectable<VerifyServicesTable>;
type Verification = Selectable<VerificationsTable>;
interface SendAttempt { attempt_sid: string; channel: string; time: string }

/** Twilio's: a verification lives 10 minutes. */
const EXPIRY_MINUTES = 10;
const MAX_FRIENDLY_NAME = 30;
const DEFAULT_CODE_LENGTH = 6;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

function param(form: Form, name: string): string | undefined {
  const value = form[name];
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

const invalid = (name: string, why?: string) => invalidParameter('verify', `Invalid parameter: ${name}${why ? ` (${why})` : ''}`);

/**
 * Twilio Verify v2 over the gateway's OTP engine: a verification is one OTP session (the code is
 * generated, hashed, sent, limited and checked by OtpService, and the pumping guard sees it); a
 * Verify Service names the text and the code length.
 */
export class TwilioVerifyApi {
  private readonly baseUrl: string;

  constructor(
    private readonly config: Config,
    private readonly db: Kysely<Database>,
    private readonly commits: GroupCommit,
    private readonly otp: OtpService,
  ) {
    this.baseUrl = `${config.publicUrl.replace(/\/+$/, '')}/v2`;
  }

  // --- services -------------------------------------------------------------------------

  async createService(account: VerifyAccount, form: Form) {
    const now = Date.now();
    const row: Service = {
      sid: randomSid('VA'), key_id: account.keyId, friendly_name: this.friendlyName(param(form, 'FriendlyName')),
      code_length: this.codeLength(param(form, 'CodeLength')) ?? DEFAULT_CODE_LENGTH, created_at: now, updated_at: now,
    };
    await this.commits.run((trx) => trx.insertInto('verify_services').values(row).execute());
    return this.serviceView(account, row);
  }

  async fetchService(account: VerifyAccount, sid: string) {
    return this.serviceView(account, await this.service(account, sid));
  }

  async updateService(account: VerifyAccount, sid: string, form: Form) {
    const service = await this.service(account, sid);
    const name = param(form, 'FriendlyName');
    const changes = {
      friendly_name: name === undefined ? service.friendly_name : this.friendlyName(name),
      code_length: this.codeLength(param(form, 'CodeLength')) ?? service.code_length,
      updated_at: Date.now(),
    };
    await this.commits.run((trx) => trx.updateTable('verify_services').set(changes).where('sid', '=', sid).execute());
    return this.serviceView(account, { ...service, ...changes });
  }

  async removeService(account: VerifyAccount, sid: string): Promise<void> {
    await this.service(account, sid);
    await this.commits.run((trx) => trx.deleteFrom('verify_services').where('sid', '=', sid).execute());
  }

  async listServices(account: VerifyAccount, query: Record<string, unknown>) {
    const pageSize = this.integer(param(query, 'PageSize'), 'PageSize', DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);
    const page = this.integer(param(query, 'Page'), 'Page', 0, 0, Number.MAX_SAFE_INTEGER);
    const rows = await this.owned(this.db.selectFrom('verify_services').selectAll(), account)
      .orderBy('created_at', 'desc').orderBy('sid').limit(pageSize + 1).offset(page * pageSize).execute();
    const url = (n: number) => `${this.baseUrl}/Services?PageSize=${pageSize}&Page=${n}`;
    return {
      services: rows.slice(0, pageSize).map((r) => this.serviceView(account, r)),
      meta: {
        page, page_size: pageSize, first_page_url: url(0), previous_page_url: page > 0 ? url(page - 1) : null,
        url: url(page), next_page_url: rows.length > pageSize ? url(page + 1) : null, key: 'services',
      },
    };
  }

  // --- verifications --------------------------------------------------------------------

  /**
   * Sends a code. Another start for a number with a pending verification in the same service
   * sends that verification a fresh code (Twilio resends; here the previous code stops working,
   * as OTP resends do); OTP_RESEND_COOLDOWN, OTP_MAX_RESENDS and the per-number limits are 60203.
   */
  async start(account: VerifyAccount, serviceSid: string, form: Form) {
    const service = await this.service(account, serviceSid);
    const to = this.phone(param(form, 'To'));
    const channel = param(form, 'Channel');
    if (!channel) throw invalid('Channel');
    if (channel !== 'sms') throw invalid('Channel', `${channel} is not supported by this gateway: sms only`);
    const now = Date.now();
    const attempt: SendAttempt = { attempt_sid: randomSid('VL'), channel, time: iso8601(now) };

    const existing = await this.owned(this.db.selectFrom('verifications').selectAll(), account)
      .where('service_sid', '=', service.sid).where('to_number', '=', to).where('status', '=', 'pending')
      .orderBy('created_at', 'desc').orderBy('session_id', 'desc').limit(1).executeTakeFirst();
    if (existing && (await this.sessionState(existing)) === 'pending') {
      try {
        await this.otp.resend(existing.session_id);
      } catch (err) {
        throw sendRefusal(err);
      }
      const changes = { send_attempts: JSON.stringify([...attempts(existing), attempt]), updated_at: now };
      await this.commits.run((trx) => trx.updateTable('verifications').set(changes).where('sid', '=', existing.sid).execute());
      return this.verificationView(account, { ...existing, ...changes }, 'pending');
    }

    let sessionId: string;
    try {
      const session = await this.otp.generate({
        phone_number: { number: to },
        length: service.code_length,
        expiry_minutes: EXPIRY_MINUTES,
        // As Twilio words it, naming the service.
        custom_message: `Your ${service.friendly_name} verification code is: {otp}`,
      }, account.caller);
      sessionId = session.session_id;
    } catch (err) {
      throw sendRefusal(err);
    }
    const row: Verification = {
      sid: randomSid('VE'), service_sid: service.sid, session_id: sessionId, to_number: to, channel, status: 'pending',
      send_attempts: JSON.stringify([attempt]), key_id: account.keyId, created_at: now, updated_at: now,
    };
    await this.commits.run((trx) => trx.insertInto('verifications').values(row).execute());
    return this.verificationView(account, row, 'pending');
  }

  /**
   * Checks a code: approved, or pending with valid false. A verification that is approved,
   * canceled or expired is gone (20404, as Twilio soft-deletes it); once OTP_MAX_ATTEMPTS wrong
   * codes were given, every further check is 60202.
   */
  async check(account: VerifyAccount, serviceSid: string, form: Form) {
    const service = await this.service(account, serviceSid);
    const code = param(form, 'Code');
    if (!code || code.length < 4 || code.length > 10) throw invalid('Code', 'must be 4 to 10 characters');
    const verificationSid = param(form, 'VerificationSid');
    const toParam = param(form, 'To');
    if (!verificationSid && !toParam) throw invalid('To', 'give To or VerificationSid');
    let query = this.owned(this.db.selectFrom('verifications').selectAll(), account).where('service_sid', '=', service.sid);
    query = verificationSid ? query.where('sid', '=', verificationSid) : query.where('to_number', '=', this.phone(toParam));
    // Newest first; within one millisecond the later OTP session decides (ids grow with creation within a
    // process), not whichever row an index scan meets first.
    const row = await query.orderBy('created_at', 'desc').orderBy('session_id', 'desc').limit(1).executeTakeFirst();
    const path = `/v2/Services/${serviceSid}/VerificationCheck`;
    if (!row || row.status !== 'pending') throw notFound(path);
    const state = await this.sessionState(row);
    if (state === 'locked') throw new TwilioError(429, 60202, 'Max check attempts reached');
    if (state !== 'pending') throw notFound(path);

    let outcome;
    try {
      outcome = await this.otp.verify({ phone_number: { number: row.to_number }, otp_code: code, session_id: row.session_id });
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw notFound(path);
      throw err;
    }
    const now = Date.now();
    if (outcome.verified) {
      await this.commits.run((trx) => trx.updateTable('verifications').set({ status: 'approved', updated_at: now }).where('sid', '=', row.sid).execute());
      return this.checkView(account, { ...row, updated_at: now }, 'approved', true);
    }
    // The check that used up the last attempt still answers pending, as Twilio's does; the next is 60202.
    if (outcome.status === 'pending' || outcome.status === 'locked') return this.checkView(account, row, 'pending', false);
    throw notFound(path);
  }

  async fetch(account: VerifyAccount, serviceSid: string, sid: string) {
    const row = await this.verification(account, serviceSid, sid);
    const status = await this.status(row);
    if (status !== 'pending' && status !== 'max_attempts_reached') throw notFound(`/v2/Services/${serviceSid}/Verifications/${sid}`);
    return this.verificationView(account, row, status);
  }

  /** Status=canceled (the code stops working) or Status=approved (the person was verified another way). */
  async update(account: VerifyAccount, serviceSid: string, sid: string, form: Form) {
    const status = param(form, 'Status');
    if (status !== 'canceled' && status !== 'approved') throw invalid('Status', 'canceled or approved');
    const row = await this.verification(account, serviceSid, sid);
    const path = `/v2/Services/${serviceSid}/Verifications/${sid}`;
    const current = await this.status(row);
    const closable = current === 'pending' || (status === 'canceled' && current === 'max_attempts_reached');
    if (!closable) throw notFound(path);
    if (current === 'pending' && !(await this.otp.close(row.session_id, status))) throw notFound(path);
    const now = Date.now();
    await this.commits.run((trx) => trx.updateTable('verifications').set({ status, updated_at: now }).where('sid', '=', row.sid).execute());
    return this.verificationView(account, { ...row, status, updated_at: now }, status);
  }

  // --- lookups and views ----------------------------------------------------------------

  /** Only the account's own rows: the operator's are those made without a key. */
  private owned<Q extends { where: (...args: any[]) => Q }>(query: Q, account: VerifyAccount): Q {
    return account.keyId === null ? query.where('key_id', 'is', null) : query.where('key_id', '=', account.keyId);
  }

  private async service(account: VerifyAccount, sid: string): Promise<Service> {
    const row = await this.owned(this.db.selectFrom('verify_services').selectAll(), account).where('sid', '=', sid).executeTakeFirst();
    if (!row) throw notFound(`/v2/Services/${sid}`);
    return row;
  }

  private async verification(account: VerifyAccount, serviceSid: string, sid: string): Promise<Verification> {
    await this.service(account, serviceSid);
    const row = await this.owned(this.db.selectFrom('verifications').selectAll(), account)
      .where('service_sid', '=', serviceSid).where('sid', '=', sid).executeTakeFirst();
    if (!row) throw notFound(`/v2/Services/${serviceSid}/Verifications/${sid}`);
    return row;
  }

  /** The OTP session's state (pending, verified, expired, locked), read through OtpService. */
  private async sessionState(row: Verification): Promise<string> {
    try {
      return (await this.otp.get(row.session_id)).status;
    } catch (err) {
      if (err instanceof AppError && err.status === 404) return 'expired';
      throw err;
    }
  }

  /** Twilio's verification status: what the API made of it, else what became of its code. */
  private async status(row: Verification): Promise<string> {
    if (row.status !== 'pending') return row.status;
    const state = await this.sessionState(row);
    return state === 'verified' ? 'approved' : state === 'locked' ? 'max_attempts_reached' : state;
  }

  private phone(to: string | undefined): string {
    if (!to) throw invalid('To');
    const phone = normalisePhone(to, this.config.defaultCountry, this.config.phoneValidation);
    if (!phone.ok) throw invalid('To', phone.reason);
    return phone.phone.e164;
  }

  private friendlyName(name: string | undefined): string {
    if (!name || name.trim() === '') throw invalid('FriendlyName');
    if (name.length > MAX_FRIENDLY_NAME) throw invalid('FriendlyName', `at most ${MAX_FRIENDLY_NAME} characters`);
    // It goes into the OTP text, whose {otp} and {expiry} are placeholders.
    if (/[{}]/.test(name)) throw invalid('FriendlyName', 'must not contain { or }');
    return name;
  }

  private codeLength(value: string | undefined): number | undefined {
    if (value === undefined) return undefined;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= 4 && n <= 10)) throw invalid('CodeLength', '4 to 10');
    return n;
  }

  private integer(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
    if (value === undefined) return fallback;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (!(n >= min && n <= max)) throw invalid(name, `an integer from ${min} to ${max}`);
    return n;
  }

  private serviceView(account: VerifyAccount, s: Service) {
    const url = `${this.baseUrl}/Services/${s.sid}`;
    return {
      sid: s.sid, account_sid: account.sid, friendly_name: s.friendly_name, code_length: s.code_length,
      lookup_enabled: false, psd2_enabled: false, skip_sms_to_landlines: false, dtmf_input_required: true, tts_name: null,
      do_not_share_warning_enabled: false, custom_code_enabled: false,
      push: { include_date: false, apn_credential_sid: null, fcm_credential_sid: null },
      totp: { issuer: s.friendly_name, time_step: 30, code_length: 6, skew: 1 },
      default_template_sid: null, whatsapp: { msg_service_sid: null, from: null }, verify_event_subscription_enabled: false,
      date_created: iso8601(s.created_at), date_updated: iso8601(s.updated_at), url,
      links: { verifications: `${url}/Verifications`, verification_checks: `${url}/VerificationCheck` },
    };
  }

  private verificationView(account: VerifyAccount, v: Verification, status: string) {
    return {
      sid: v.sid, service_sid: v.service_sid, account_sid: account.sid, to: v.to_number, channel: v.channel, status, valid: status === 'approved',
      lookup: {}, amount: null, payee: null, send_code_attempts: attempts(v),
      date_created: iso8601(v.created_at), date_updated: iso8601(v.updated_at), sna: null,
      url: `${this.baseUrl}/Services/${v.service_sid}/Verifications/${v.sid}`,
    };
  }

  private checkView(account: VerifyAccount, v: Verification, status: string, valid: boolean) {
    return {
      sid: v.sid, service_sid: v.service_sid, account_sid: account.sid, to: v.to_number, channel: v.channel, status, valid,
      amount: null, payee: null, date_created: iso8601(v.created_at), date_updated: iso8601(v.updated_at), sna_attempts_error_codes: [],
    };
  }
}

function attempts(v: Verification): SendAttempt[] {
  return JSON.parse(v.send_attempts) as SendAttempt[];
}

/**
 * OtpService's refusals to send as Verify's codes: every send limit (cooldown, resends, codes per
 * number per hour, the per-number cap, the pumping guard) is 60203 with its Retry-After, a blocked
 * destination 60605.
 */
function sendRefusal(err: unknown): unknown {
  if (!(err instanceof AppError) || err instanceof TwilioError) return err;
  if (err.status === 429 || err.status === 409) return new TwilioError(429, 60203, `Max send attempts reached: ${err.message}`, err.status === 429 ? err.headers : {});
  if (err.errors.some((e) => e.reason === 'country_blocked' || e.reason === 'prefix_blocked')) {
    return new TwilioError(403, 60605, `Verification delivery attempt blocked: ${err.message}`);
  }
  if (err.status === 404) return new TwilioError(404, 20404, err.message);
  return invalidParameter('verify', `Invalid parameter: ${err.message}`);
}
