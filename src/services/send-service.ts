import { createHash } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Caller } from '../domain/api-keys.js';
import { canonicalJson } from '../domain/canonical-json.js';
import type { Config, ProviderName } from '../config.js';
import { isHexPayload, segmentMessage, type MessageType, type Segmentation } from '../domain/encoding.js';
import { AppError, ConflictError, ValidationError, type FieldError } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { defaultPriority, type SmsType } from '../domain/message-status.js';
import { metadataProblems, serialiseMetadata } from '../domain/metadata.js';
import { isPrivateHost } from '../domain/network-address.js';
import { normalisePhone } from '../domain/phone.js';
import { messageCost, roundCost } from '../domain/pricing.js';
import type { FieldCipher } from '../domain/field-cipher.js';
import { hasPlaceholders, renderTemplate } from '../domain/template.js';
import type { GatewayMetrics } from '../metrics.js';
import type { ProviderRouter } from '../providers/routing/provider-router.js';
import type { RecipientCheck, RecipientPolicy, RecipientRejection } from './recipient-policy.js';
import type { WakeUps } from './wake-ups.js';
import type { GroupCommit } from '../store/group-commit.js';
import { findIdempotentResponse, saveIdempotentResponse } from '../store/idempotency-store.js';
import { insertRows } from '../store/message-store.js';
import type { BatchesTable, MessagesTable } from '../store/schema.js';
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

export interface Recipient {
  number: string;
  country_code?: string;
  name?: string;
  variables?: Record<string, string | number | boolean>;
}

interface CommonFields {
  from_number?: string;
  message_type?: MessageType;
  sms_type?: SmsType;
  provider?: ProviderName;
  schedule_at?: string;
  expire_at?: string;
  priority?: number;
  callback_url?: string;
  custom_id?: string;
  metadata?: Record<string, unknown>;
}

export interface SendRequest extends CommonFields {
  to: Recipient[];
  message?: string;
  template_id?: string;
  template_variables?: Record<string, string | number | boolean>;
}

export interface BatchRequest extends CommonFields {
  name?: string;
  recipients: Recipient[];
  message?: string;
  template_id?: string;
  template_variables?: Record<string, string | number | boolean>;
  send_immediately?: boolean;
}

/** A template as a send needs it; templates plug in through this so sending does not depend on their storage. */
export interface TemplateForSend {
  id: string;
  version: number;
  content: string;
  sms_type: SmsType;
}

export interface TemplateSource {
  forSend(id: string, trx?: Kysely<Database>): Promise<TemplateForSend>;
  recordUse(trx: Kysely<Database>, id: string, uses: number, now: number): Promise<void>;
}

export interface RejectedRecipient {
  index: number;
  number: string;
  error: string;
  reason: string;
}

/** How another API over this service wants its messages handled (the Twilio-compatible API). */
export interface SendOptions {
  /** Status callbacks in this format ('twilio': Twilio's form fields, signed with the key) instead of our JSON. */
  callbackFormat?: 'twilio';
  /** The text is sent as written: `{{x}}` in it is not a placeholder (Twilio bodies have none). */
  literal?: boolean;
  /** `smpp:<system_id>`: submitted by an ESME over SMPP (shown as `submitted_via`). */
  submittedVia?: string;
  /** Status changes go back to that ESME as SMPP receipts (through the callbacks outbox, to `smpp:<system_id>`). */
  smppReceipts?: boolean;
}

export interface IdempotentReply<T> {
  statusCode: number;
  body: T;
  replayed: boolean;
}

/** A message to store, with what its reply needs. */
interface PreparedMessage {
  row: MessagesTable;
}

interface Timing {
  status: 'draft' | 'scheduled' | 'queued';
  scheduleAt: number | null;
  expireAt: number | null;
  dueAt: number;
}

/** Accepting messages: validate everything first, then store a whole request in one transaction. */
export class SendService {
  constructor(
    private readonly config: Config,
    private readonly db: Kysely<Database>,
    private readonly commits: GroupCommit,
    private readonly router: ProviderRouter,
    private readonly metrics: GatewayMetrics,
    private readonly templates: TemplateSource,
    private readonly cipher: FieldCipher,
    private readonly policy: RecipientPolicy,
    private readonly wakeUps: WakeUps,
  ) {}

  /** Messages were stored due now: dispatchers anywhere should look. */
  queued(): void {
    this.wakeUps.notify();
  }

  /** For a one-recipient send that is not a request of this service (OTP): the same policies, thrown as send's problems. */
  async screen(recipient: RecipientCheck, field: string, now: number): Promise<void> {
    const refused = (await this.policy.check([recipient], now)).get(recipient.e164);
    if (refused) throw refusal([{ field, ...refused }]);
  }

  /**
   * The message carrying a one-time passcode: stored with the code masked, the real text
   * sealed for the dispatcher only. Returns the row for the caller's own transaction.
   */
  prepareOtpMessage(to: { e164: string; country: string | undefined }, text: string, masked: string, template: TemplateForSend | undefined, metadata: Record<string, unknown> | undefined, now: number, codeExpiresAt: number, keyId: string | null) {
    // A code that can no longer be verified is not worth sending: the message expires with it.
    const timing: Timing = { status: 'queued', scheduleAt: null, expireAt: codeExpiresAt, dueAt: now };
    const batchId = newId('bat', now);
    const input: CommonFields = { sms_type: 'otp', metadata };
    // Segmented and priced on the masked text: the mask ('*') and code characters (digits, A-Z) are all
    // one GSM-7 septet and one UTF-16 unit, so the count is the same, and one default text segments once.
    const { row } = this.message(batchId, { e164: to.e164, country: to.country }, masked, 'text', 'otp', input, timing, template, now, keyId);
    row.sealed_body = this.cipher.seal(text);
    // No batch row: the message is its batch (findBatch), and carries the metadata the row would.
    row.metadata = this.sealedMetadata(metadata);
    return { message: row };
  }

  async send(input: SendRequest, idempotencyKey: string | undefined, caller: Caller, options: SendOptions = {}) {
    return this.idempotent('send', idempotencyKey, caller, input, (now) => this.prepareSend(input, now, caller.keyId, options));
  }

  async sendBatch(input: BatchRequest, idempotencyKey: string | undefined, caller: Caller) {
    return this.idempotent('send-batch', idempotencyKey, caller, input, (now) => this.prepareBatch(input, now, caller.keyId));
  }

  private async prepareSend(input: SendRequest, now: number, keyId: string | null, options: SendOptions) {
    const { errors, messageType, template, smsType, timing, provider } = await this.common(input, input.to.length, 'to', false, now);
    const { valid, rejected } = this.recipients(input.to);
    for (const r of rejected) errors.push({ field: `to[${r.index}].number`, message: r.error, reason: r.reason });
    if (errors.length > 0) throw new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);

    const batchId = newId('bat', now);
    const messages: PreparedMessage[] = [];
    const bodyErrors: FieldError[] = [];
    for (let i = 0; i < valid.length; i++) {
      if (turnBefore(i)) await nextTurn();
      const r = valid[i];
      const body = this.body(input.message, template, input.template_variables, r, messageType, options.literal);
      if (!body.ok) {
        if (body.variables) {
          // One error per missing variable, named where the client would put it.
          for (const v of body.variables) {
            bodyErrors.push({ field: v === 'name' ? `to[${r.index}].name` : `template_variables.${v}`, message: `is required by the ${template ? 'template' : 'message'}`, reason: body.reason });
          }
        } else {
          bodyErrors.push({ field: body.field === 'message' ? 'message' : `to[${r.index}]`, message: body.error, reason: body.reason });
        }
        continue;
      }
      const prepared = this.message(batchId, r, body.text, messageType, smsType, input, timing, template, now, keyId);
      if (options.callbackFormat) prepared.row.callback_format = options.callbackFormat;
      if (options.submittedVia) prepared.row.submitted_via = options.submittedVia;
      if (options.submittedVia && options.smppReceipts) {
        prepared.row.callback_url = options.submittedVia;
        prepared.row.callback_format = 'smpp';
      }
      messages.push(prepared);
    }
    if (bodyErrors.length > 0) throw new ValidationError(bodyErrors.map((e) => `${e.field} ${e.message}`).join('; '), dedupeErrors(bodyErrors));
    // Last, so a request refused for another reason counts against no recipient's limit.
    const refused = await this.policy.check(valid.map((r) => ({ e164: r.e164, country: r.country, smsType, keyId })), now);
    if (refused.size > 0) {
      throw refusal(valid.filter((r) => refused.has(r.e164)).map((r) => ({ field: `to[${r.index}].number`, ...refused.get(r.e164)! })));
    }

    const totals = sum(messages);
    const duplicates = input.to.length - valid.length - rejected.length;
    // One recipient, given once: no batch row. The message is its batch (findBatch) and carries the metadata; a
    // row per message sent was ~140 bytes and an insert.
    const batch = messages.length === 1 && duplicates === 0 ? undefined : this.batchRow(batchId, 'single', null, input, template, smsType, messageType, provider, timing, {
      total: messages.length, accepted: messages.length, rejected: 0, duplicates, ...totals,
    }, now, keyId);
    if (!batch) messages[0].row.metadata = this.sealedMetadata(input.metadata);
    const reply = {
      batch_id: batchId,
      status: timing.status,
      total_recipients: messages.length,
      total_segments: totals.segments,
      estimated_cost: totals.cost,
      currency: this.config.prices.currency,
      messages: messages.map(({ row }) => ({
        id: row.id, to: row.to_number, status: row.status, segments: row.segments, encoding: row.encoding, estimated_cost: row.estimated_cost,
      })),
      custom_id: input.custom_id ?? null,
      scheduled_at: iso(timing.scheduleAt),
      created_at: new Date(now).toISOString(),
    };
    return { reply, batch, messages, template };
  }

  private async prepareBatch(input: BatchRequest, now: number, keyId: string | null) {
    const { errors, messageType, template, smsType, timing, provider } = await this.common(input, input.recipients.length, 'recipients', input.send_immediately === false, now);
    if (errors.length > 0) throw new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);

    const { valid: normalised, rejected } = this.recipients(input.recipients);
    const refused = await this.policy.check(normalised.map((r) => ({ e164: r.e164, country: r.country, smsType, keyId })), now);
    const valid = normalised.filter((r) => !refused.has(r.e164));
    for (const r of normalised) {
      const why = refused.get(r.e164);
      if (why) rejected.push({ index: r.index, number: r.input, error: why.message, reason: why.reason });
    }
    const batchId = newId('bat', now);
    const messages: PreparedMessage[] = [];
    // One text for every recipient (nothing rendered per recipient): sealed once, not once per recipient.
    const seal = template === undefined && !hasPlaceholders(input.message!) ? sealOnce(this.cipher) : undefined;
    for (let i = 0; i < valid.length; i++) {
      if (turnBefore(i)) await nextTurn();
      const r = valid[i];
      const body = this.body(input.message, template, input.template_variables, r, messageType);
      if (!body.ok) {
        // A problem with the shared text (too long, bad hex) is the request's, not one recipient's.
        if (body.field === 'message') throw new ValidationError(`message ${body.error}`, [{ field: 'message', message: body.error }]);
        rejected.push({ index: r.index, number: r.input, error: body.error, reason: body.reason });
        continue;
      }
      messages.push(this.message(batchId, r, body.text, messageType, smsType, input, timing, template, now, keyId, seal));
    }
    if (messages.length === 0) {
      throw new ValidationError('no valid recipient', rejected.map((r) => ({ field: `recipients[${r.index}].number`, message: r.error, reason: r.reason })));
    }
    rejected.sort((a, b) => a.index - b.index);
    const duplicates = input.recipients.length - normalised.length - rejected.filter((r) => r.reason === 'invalid_number').length;
    const totals = sum(messages);
    const batch = this.batchRow(batchId, 'batch', input.name ?? null, input, template, smsType, messageType, provider, timing, {
      total: input.recipients.length, accepted: messages.length, rejected: rejected.length, duplicates, ...totals,
    }, now, keyId);
    const reply = {
      batch_id: batchId,
      name: input.name ?? null,
      status: timing.status,
      total_recipients: input.recipients.length,
      accepted: messages.length,
      rejected: rejected.length,
      duplicates,
      rejected_recipients: rejected.map((r) => ({ index: r.index, number: r.number, error: r.error, reason: r.reason })),
      total_segments: totals.segments,
      estimated_cost: totals.cost,
      currency: this.config.prices.currency,
      scheduled_at: iso(timing.scheduleAt),
      created_at: new Date(now).toISOString(),
    };
    return { reply, batch, messages, template };
  }

  /** What send and send-batch check alike; problems are collected so one reply names them all. */
  private async common(input: CommonFields & { message?: string; template_id?: string }, recipients: number, field: string, draft: boolean, now: number) {
    if (recipients > this.config.maxRecipientsPerRequest) {
      throw new ValidationError(`too many recipients: at most ${this.config.maxRecipientsPerRequest}`, [
        { field, message: `has ${recipients} recipients; MAX_RECIPIENTS_PER_REQUEST is ${this.config.maxRecipientsPerRequest}` },
      ]);
    }
    const errors: FieldError[] = [];
    const messageType = input.message_type ?? 'text';
    const template = await this.template(input.template_id);
    const smsType = input.sms_type ?? template?.sms_type ?? 'transactional';
    if (input.message === undefined && template === undefined) errors.push({ field: 'message', message: 'is required (or give template_id)' });
    const timing = this.timing(input, draft, now, errors);
    const provider = this.chooseProvider(input.provider, messageType, smsType, errors);
    this.checkCallbackUrl(input.callback_url, errors);
    errors.push(...metadataProblems(input.metadata));
    return { errors, messageType, template, smsType, timing, provider };
  }

  /** Runs a prepared request exactly once per Idempotency-Key, storing its reply with its messages. */
  private async idempotent<T>(
    scope: string,
    idempotencyKey: string | undefined,
    caller: Caller,
    input: unknown,
    prepare: (now: number) => Promise<{ reply: T; batch: BatchesTable | undefined; messages: PreparedMessage[]; template: TemplateForSend | undefined }>,
  ): Promise<IdempotentReply<T>> {
    // One key names one request of one caller, whichever endpoint it went to: the endpoint is part of what is compared.
    const key = idempotencyKey === undefined ? undefined : `${caller.keyId ?? ''}:${idempotencyKey}`;
    const hash = key === undefined ? '' : createHash('sha256').update(`${scope}\n${canonicalJson(input)}`).digest('hex');
    const replay = async (): Promise<IdempotentReply<T> | undefined> => {
      const stored = await findIdempotentResponse(this.db, key!, Date.now());
      if (!stored) return undefined;
      if (stored.request_hash !== hash) throw new ConflictError('Idempotency-Key was already used with a different request (another body or another endpoint)');
      return { statusCode: stored.status_code, body: JSON.parse(stored.response) as T, replayed: true };
    };
    if (key !== undefined) {
      const earlier = await replay();
      if (earlier) return earlier;
    }
    const now = Date.now();
    const prepared = await prepare(now);
    try {
      await this.commits.run(async (trx) => {
        if (key !== undefined) await saveIdempotentResponse(trx, key, hash, 200, prepared.reply, now);
        if (prepared.batch) await insertRows(trx, 'batches', [prepared.batch]);
        await insertRows(trx, 'messages', prepared.messages.map((m) => m.row));
        // The creation itself is not stored as an event: the message row says it (see MessageService.get).
        if (prepared.template) await this.templates.recordUse(trx, prepared.template.id, prepared.messages.length, now);
      });
    } catch (err) {
      // A concurrent request with the same key won the insert: answer as it did.
      if (key !== undefined) {
        const earlier = await replay();
        if (earlier) return earlier;
      }
      throw err;
    }
    for (const { row } of prepared.messages) this.metrics.accepted.inc({ provider: row.provider, sms_type: row.sms_type });
    if (prepared.messages.some(({ row }) => row.status === 'queued')) this.queued();
    return { statusCode: 200, body: prepared.reply, replayed: false };
  }

  private async template(id: string | undefined): Promise<TemplateForSend | undefined> {
    return id === undefined ? undefined : this.templates.forSend(id);
  }

  private timing(input: CommonFields, draft: boolean, now: number, errors: FieldError[]): Timing {
    const scheduleAt = input.schedule_at !== undefined ? Date.parse(input.schedule_at) : null;
    const expireAt = input.expire_at !== undefined ? Date.parse(input.expire_at) : null;
    if (scheduleAt !== null && Number.isNaN(scheduleAt)) errors.push({ field: 'schedule_at', message: 'is not an ISO 8601 date-time' });
    if (expireAt !== null && Number.isNaN(expireAt)) errors.push({ field: 'expire_at', message: 'is not an ISO 8601 date-time' });
    if (expireAt !== null && expireAt <= now) errors.push({ field: 'expire_at', message: 'is in the past' });
    else if (expireAt !== null && scheduleAt !== null && expireAt <= scheduleAt) errors.push({ field: 'expire_at', message: 'is not after schedule_at' });
    const future = scheduleAt !== null && scheduleAt > now;
    const status = future ? 'scheduled' : draft && scheduleAt === null ? 'draft' : 'queued';
    return { status, scheduleAt, expireAt, dueAt: future ? scheduleAt! : now };
  }

  /** Collects a provider problem with the others, so one reply names every bad field. */
  private chooseProvider(name: ProviderName | undefined, messageType: MessageType, smsType: SmsType, errors: FieldError[]): string {
    // A destination no rule names: what fails here (an unknown or disabled provider, a type no one sends) fails for every recipient.
    try {
      return this.router.route({ e164: '+', country: undefined, smsType, messageType }, name)[0];
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      errors.push(...err.errors);
      return '';
    }
  }

  private checkCallbackUrl(url: string | undefined, errors: FieldError[]): void {
    if (url === undefined) return;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      errors.push({ field: 'callback_url', message: 'is not a URL' });
      return;
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') errors.push({ field: 'callback_url', message: 'must be http or https' });
    else if (!this.config.webhooks.allowPrivateNetworks && isPrivateHost(parsed.hostname)) {
      errors.push({ field: 'callback_url', message: 'points to a private or loopback address (set CALLBACK_ALLOW_PRIVATE_NETWORKS=true to allow)' });
    }
  }

  /** Normalises every recipient; the first of each E.164 number wins, later ones are duplicates. */
  private recipients(list: Recipient[]) {
    const seen = new Set<string>();
    const valid: Array<{ index: number; input: string; e164: string; country: string | undefined; name?: string; variables?: Recipient['variables'] }> = [];
    const rejected: RejectedRecipient[] = [];
    list.forEach((r, index) => {
      const result = normalisePhone(r.number, r.country_code ?? this.config.defaultCountry, this.config.phoneValidation);
      if (!result.ok) {
        rejected.push({ index, number: r.number, error: result.reason, reason: 'invalid_number' });
        return;
      }
      if (seen.has(result.phone.e164)) return;
      seen.add(result.phone.e164);
      valid.push({ index, input: r.number, e164: result.phone.e164, country: result.phone.country ?? r.country_code?.toUpperCase(), name: r.name, variables: r.variables });
    });
    return { valid, rejected };
  }

  private body(
    message: string | undefined,
    template: TemplateForSend | undefined,
    shared: Record<string, unknown> | undefined,
    recipient: { name?: string; variables?: Record<string, unknown> },
    messageType: MessageType,
    literal = false,
  ): { ok: true; text: string } | { ok: false; field: 'message' | 'recipient'; error: string; reason: string; variables?: string[] } {
    const source = template?.content ?? message!;
    const rendersVariables = template !== undefined || (!literal && hasPlaceholders(source));
    let text = source;
    if (rendersVariables) {
      const vars: Record<string, unknown> = { ...shared, ...(recipient.name !== undefined ? { name: recipient.name } : {}), ...recipient.variables };
      const rendered = renderTemplate(source, vars, this.config.maxMessageLength);
      if (!rendered.ok && rendered.tooLong && rendered.missing.length === 0) {
        return { ok: false, field: 'recipient', error: `would be longer than MAX_MESSAGE_LENGTH (${this.config.maxMessageLength} characters) once rendered`, reason: 'message_too_long' };
      }
      if (!rendered.ok) {
        return { ok: false, field: 'recipient', error: `missing template variable${rendered.missing.length > 1 ? 's' : ''}: ${rendered.missing.join(', ')}`, reason: 'missing_variable', variables: rendered.missing };
      }
      text = rendered.text;
    }
    if (text.length === 0) return { ok: false, field: 'message', error: 'is empty', reason: 'empty_message' };
    if (messageType === 'binary' && !isHexPayload(text)) return { ok: false, field: 'message', error: 'must be hex for message_type binary', reason: 'bad_binary' };
    const length = [...text].length;
    if (length > this.config.maxMessageLength) {
      return { ok: false, field: rendersVariables ? 'recipient' : 'message', error: `is ${length} characters; MAX_MESSAGE_LENGTH is ${this.config.maxMessageLength}`, reason: 'message_too_long' };
    }
    return { ok: true, text };
  }

  /** A batch usually sends one text to every recipient: segment it once, not once per recipient. */
  private lastSegmented: { body: string; messageType: MessageType; result: Segmentation } | undefined;

  private segments(body: string, messageType: MessageType): Segmentation {
    const last = this.lastSegmented;
    if (last && last.body === body && last.messageType === messageType) return last.result;
    const result = segmentMessage(body, messageType);
    this.lastSegmented = { body, messageType, result };
    return result;
  }

  private message(
    batchId: string,
    r: { e164: string; country: string | undefined },
    body: string,
    messageType: MessageType,
    smsType: SmsType,
    input: CommonFields,
    timing: Timing,
    template: TemplateForSend | undefined,
    now: number,
    keyId: string | null,
    seal?: (text: string) => string,
  ): PreparedMessage {
    const seg = this.segments(body, messageType);
    const route = this.router.route({ e164: r.e164, country: r.country, smsType, messageType }, input.provider, now);
    const provider = route[0];
    return {
      row: {
        id: newId('msg', now),
        batch_id: batchId,
        to_number: r.e164,
        country: r.country ?? null,
        from_number: input.from_number ?? this.config.defaultFromNumber ?? null,
        body: seal ? seal(body) : this.cipher.seal(body),
        message_type: messageType,
        sms_type: smsType,
        encoding: seg.encoding,
        segments: seg.segments,
        priority: input.priority ?? defaultPriority(smsType),
        provider,
        route: route.length > 1 ? JSON.stringify(route) : null,
        status: timing.status,
        provider_message_id: null,
        estimated_cost: messageCost(this.config.prices, provider, r.country, seg.segments),
        cost: null,
        currency: this.config.prices.currency,
        attempts: 0,
        error_code: null,
        error_message: null,
        custom_id: input.custom_id ?? null,
        // Stored once, on the batch: every message of a request shares it. A request of one message has no
        // batch row, and its message keeps it (prepareSend, prepareOtpMessage).
        metadata: null,
        callback_url: input.callback_url ?? null,
        template_id: template?.id ?? null,
        template_version: template?.version ?? null,
        schedule_at: timing.scheduleAt,
        expire_at: timing.expireAt,
        due_at: timing.dueAt,
        lease_until: null,
        created_at: now,
        updated_at: now,
        sent_at: null,
        final_at: null,
        key_id: keyId,
      },
    };
  }

  private sealedMetadata(metadata: Record<string, unknown> | undefined): string | null {
    return this.cipher.sealOrNull(serialiseMetadata(metadata));
  }

  private batchRow(
    id: string, kind: 'single' | 'batch', name: string | null, input: CommonFields, template: TemplateForSend | undefined,
    smsType: SmsType, messageType: MessageType, provider: string, timing: Timing,
    counts: { total: number; accepted: number; rejected: number; duplicates: number; segments: number; cost: number }, now: number, keyId: string | null,
  ): BatchesTable {
    return {
      id, name, kind, status: timing.status, sms_type: smsType, message_type: messageType, provider,
      template_id: template?.id ?? null, schedule_at: timing.scheduleAt, expire_at: timing.expireAt, callback_url: input.callback_url ?? null,
      total_recipients: counts.total, accepted: counts.accepted, rejected: counts.rejected, duplicates: counts.duplicates,
      total_segments: counts.segments, estimated_cost: counts.cost, currency: this.config.prices.currency,
      metadata: this.sealedMetadata(input.metadata),
      created_at: now, updated_at: now, key_id: keyId,
    };
  }
}

/**
 * How many recipients of a request are prepared between turns of the event loop. Rendering, sealing and pricing
 * a thousand took 24-61 ms on the slower test VM, all on the loop; this way other requests (and /health) get a
 * turn every hundred. Nothing is written until all are prepared, so no one can see half a request.
 */
const RECIPIENTS_PER_TURN = 100;

/**
 * Whether the recipient at `index` waits for a turn of the event loop first. Asked in a plain loop: an
 * async generator yielding each recipient cost a promise per recipient, ~150 µs CPU per 1,000 against ~14.
 */
function turnBefore(index: number): boolean {
  return index > 0 && index % RECIPIENTS_PER_TURN === 0;
}

function sum(messages: PreparedMessage[]): { segments: number; cost: number } {
  let segments = 0;
  let cost = 0;
  for (const { row } of messages) {
    segments += row.segments;
    cost += row.estimated_cost;
  }
  return { segments, cost: roundCost(cost) };
}

/** Recipients a policy refused, as one problem: 429 when each was over a rate limit, else 422. */
function refusal(refused: Array<{ field: string } & RecipientRejection>): AppError {
  const errors = refused.map((r) => ({ field: r.field, message: r.message, reason: r.reason }));
  const detail = errors.map((e) => `${e.field} ${e.message}`).join('; ');
  if (refused.every((r) => r.reason === 'rate_limited')) {
    const wait = Math.max(1, ...refused.map((r) => Math.ceil(r.retryAfterSeconds ?? 1)));
    return new AppError(429, 'Too many requests', detail, errors, { 'retry-after': String(wait) });
  }
  return new ValidationError(detail, errors);
}

function dedupeErrors(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => (seen.has(e.field + e.message) ? false : (seen.add(e.field + e.message), true)));
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * A request's one text, sealed once for all its recipients: a 1,000-recipient campaign sealed it 1,000
 * times (7 µs each, bench/RESULTS.md). The same key, IV and text give the same ciphertext, so nothing is
 * weakened, and equal stored values show only what the batch already says: one text to all. Only for a
 * text nothing is rendered into; a personalised one is sealed per recipient, so equal renderings (the same
 * name, the same amount) do not show. A new IV per request.
 */
function sealOnce(cipher: FieldCipher): (text: string) => string {
  let sealedText: string | undefined;
  let sealed = '';
  return (text) => {
    if (text !== sealedText) {
      sealedText = text;
      sealed = cipher.seal(text);
    }
    return sealed;
  };
}
