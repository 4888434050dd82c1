import { Type, type TSchema } from 'typebox';
import { SCOPES } from '../domain/api-keys.js';
import { MESSAGE_STATUSES, SMS_TYPES } from '../domain/message-status.js';
import { Problem } from './schemas.js';

/*
 * Reply schemas. Fastify serialises a reply with the schema of its status, and the serialiser
 * writes only the properties a schema names: a field missing here silently disappears from the
 * API, and a field that should never leave the gateway (a key hash, a sealed body) cannot.
 */

/**
 * A string the services type as `string` but that only ever holds these values. The document
 * (and a client generated from it) names them; the serialiser writes the string as it is, so a
 * value outside the list is still sent rather than turned into a 500.
 */
export function oneOf(values: readonly string[]) {
  return Type.Unsafe<string>({ type: 'string', enum: [...values] });
}

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Time = () => Type.String({ description: 'ISO 8601 UTC' });
/** Free-form JSON the client gave: written back as it was stored. */
const FreeForm = Type.Record(Type.String(), Type.Unknown());

export const MessageStatusValue = oneOf(MESSAGE_STATUSES);
const SmsTypeValue = oneOf(SMS_TYPES);
const MessageTypeValue = oneOf(['text', 'unicode', 'binary', 'flash']);
const EncodingValue = oneOf(['GSM-7', 'UCS-2', 'binary']);
/** Names, not an enum: a provider added later must not need a new client. */
const ProviderName = Type.String({ description: 'twilio, aws_sns, plivo, nexmo, clickatell, simulator, ...' });

/** A page of a list; `limit` and `offset` echo what was applied. */
export const Page = <T extends TSchema>(item: T, description: string) =>
  Type.Object({ items: Type.Array(item), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer() }, { description });

// Messages ---------------------------------------------------------------------------------

/** A page of messages: a Page, and the cursor of the next one (null on the last page). */
export const MessagePage = <T extends TSchema>(item: T, description: string) =>
  Type.Object({
    items: Type.Array(item), total: Type.Integer(), limit: Type.Integer(), offset: Type.Integer(),
    next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null when this page is the last' }),
  }, { description });

export const MessageView = Type.Object({
  id: Type.String(),
  batch_id: Type.String(),
  to: Type.String({ description: 'E.164' }),
  country_code: nullable(Type.String()),
  from_number: nullable(Type.String()),
  message: Type.String({ description: 'the text as stored: OTP codes masked' }),
  message_type: MessageTypeValue,
  sms_type: SmsTypeValue,
  status: MessageStatusValue,
  priority: Type.Integer(),
  provider: ProviderName,
  route: Type.Array(Type.String(), { description: 'providers the message may go to, in order' }),
  provider_message_id: nullable(Type.String()),
  segments: Type.Integer(),
  encoding: EncodingValue,
  estimated_cost: Type.Number(),
  cost: nullable(Type.Number()),
  currency: Type.String(),
  attempts: Type.Integer(),
  error_code: nullable(Type.String()),
  error_message: nullable(Type.String()),
  custom_id: nullable(Type.String()),
  metadata: FreeForm,
  callback_url: nullable(Type.String()),
  submitted_via: nullable(Type.String({ description: '`smpp:<system_id>` for a message an ESME submitted over SMPP; null for the HTTP APIs' })),
  template_id: nullable(Type.String()),
  template_version: nullable(Type.Integer()),
  schedule_at: nullable(Time()),
  expire_at: nullable(Time()),
  // Never null for a stored message; nullable because the view formats every time with one helper.
  created_at: nullable(Time()),
  updated_at: nullable(Time()),
  sent_at: nullable(Time()),
  completed_at: nullable(Time()),
});

export const SendAttemptView = Type.Object({
  provider: ProviderName,
  at: Time(),
  outcome: oneOf(['accepted', 'rejected', 'retry', 'unknown']),
  provider_message_id: nullable(Type.String()),
  error_code: nullable(Type.String()),
  provider_error_code: nullable(Type.String()),
  error_message: nullable(Type.String()),
  duration_ms: Type.Number(),
});

export const MessageEventView = Type.Object({
  status: MessageStatusValue,
  previous_status: nullable(MessageStatusValue),
  source: Type.String({ description: 'api, dispatcher, webhook, provider:<name>, ...' }),
  detail: nullable(Type.String()),
  timestamp: Time(),
});

export const MessageDetail = Type.Object({
  ...MessageView.properties,
  send_attempts: Type.Array(SendAttemptView),
  events: Type.Array(MessageEventView),
}, { description: 'The message, its send attempts and status history' });

const AcceptedStatus = Type.Enum(['draft', 'scheduled', 'queued'], { type: 'string' });

export const SendReply = Type.Object({
  batch_id: Type.String(),
  status: AcceptedStatus,
  total_recipients: Type.Integer(),
  total_segments: Type.Integer(),
  estimated_cost: Type.Number(),
  currency: Type.String(),
  messages: Type.Array(Type.Object({
    id: Type.String(),
    to: Type.String({ description: 'E.164' }),
    status: MessageStatusValue,
    segments: Type.Integer(),
    encoding: EncodingValue,
    estimated_cost: Type.Number(),
  })),
  custom_id: nullable(Type.String()),
  scheduled_at: nullable(Time()),
  created_at: Time(),
}, { description: 'Accepted (for a repeated Idempotency-Key: the first answer again)' });

export const SendBatchReply = Type.Object({
  batch_id: Type.String(),
  name: nullable(Type.String()),
  status: AcceptedStatus,
  total_recipients: Type.Integer(),
  accepted: Type.Integer(),
  rejected: Type.Integer(),
  duplicates: Type.Integer(),
  rejected_recipients: Type.Array(Type.Object({
    index: Type.Integer(),
    number: Type.String({ description: 'as the client wrote it' }),
    error: Type.String(),
    reason: Type.String({ description: 'invalid_number, rate_limited, country_blocked, prefix_blocked, opted_out, missing_variable, ...' }),
  })),
  total_segments: Type.Integer(),
  estimated_cost: Type.Number(),
  currency: Type.String(),
  scheduled_at: nullable(Time()),
  created_at: Time(),
}, { description: 'Accepted; invalid recipients are listed, not fatal' });

export const BatchView = Type.Object({
  batch_id: Type.String(),
  name: nullable(Type.String()),
  status: oneOf(['draft', 'scheduled', 'queued', 'processing', 'completed', 'canceled']),
  sms_type: SmsTypeValue,
  provider: ProviderName,
  template_id: nullable(Type.String()),
  total_recipients: Type.Integer(),
  accepted: Type.Integer(),
  rejected: Type.Integer(),
  duplicates: Type.Integer(),
  total_segments: Type.Integer(),
  estimated_cost: Type.Number(),
  cost_so_far: Type.Number(),
  currency: Type.String(),
  counts: Type.Record(Type.String(), Type.Integer(), { description: 'messages per status' }),
  scheduled_at: nullable(Time()),
  created_at: Time(),
}, { description: 'The batch, with counts per status' });

export const BatchCancelReply = Type.Object(
  { ...BatchView.properties, canceled: Type.Integer({ description: 'messages this call canceled' }) },
  { description: 'The batch after canceling' },
);

export const CallbackAttempts = Type.Object({
  items: Type.Array(Type.Object({
    callback_id: Type.String(),
    url: Type.String(),
    status: Type.Enum(['pending', 'delivered', 'failed', 'refused'], { type: 'string', description: 'of the callback, after every attempt so far' }),
    attempt: Type.Integer(),
    status_code: nullable(Type.Integer()),
    error: nullable(Type.String()),
    duration_ms: Type.Number(),
    event_status: MessageStatusValue,
    attempted_at: Time(),
  })),
}, { description: 'Callback delivery attempts, oldest first' });

/** What one delivery report did (POST /api/sms/{id}/webhook, and each of a provider's reports). */
export const ReportOutcome = Type.Object({
  message_id: nullable(Type.String()),
  provider_message_id: nullable(Type.String()),
  status: nullable(Type.String()),
  previous_status: nullable(Type.String()),
  applied: Type.Boolean(),
  refused: Type.Optional(Type.Boolean()),
  reason: Type.Optional(Type.String()),
}, { description: 'What the report did' });

export const ProviderReportsReply = Type.Object(
  { received: Type.Integer(), applied: Type.Integer(), results: Type.Array(ReportOutcome) },
  { description: 'Reports received, and what each did' },
);

// Templates --------------------------------------------------------------------------------

export const TemplateView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  content: Type.String(),
  variables: Type.Array(Type.String()),
  category: nullable(Type.String()),
  sms_type: SmsTypeValue,
  is_active: Type.Boolean(),
  version: Type.Integer(),
  usage_count: Type.Integer(),
  last_used_at: nullable(Time()),
  created_at: Time(),
  updated_at: Time(),
}, { description: 'The template' });

export const TemplateVersions = Type.Object({
  template_id: Type.String(),
  items: Type.Array(Type.Object({
    version: Type.Integer(),
    name: Type.String(),
    content: Type.String(),
    variables: Type.Array(Type.String()),
    category: nullable(Type.String()),
    sms_type: SmsTypeValue,
    is_active: Type.Boolean(),
    change: oneOf(['created', 'updated', 'deleted']),
    created_at: Time(),
  })),
}, { description: 'Every version, oldest first' });

export const TemplateRender = Type.Object({
  message: Type.String(),
  segments: Type.Integer(),
  encoding: Type.Enum(['GSM-7', 'UCS-2', 'binary'], { type: 'string' }),
  characters: Type.Integer(),
  template_id: Type.String(),
  version: Type.Integer(),
}, { description: 'The rendered text' });

// OTP --------------------------------------------------------------------------------------

const SessionState = Type.Enum(['pending', 'verified', 'expired', 'locked'], { type: 'string' });

export const OtpSession = Type.Object({
  session_id: Type.String(),
  phone_number: Type.String({ description: 'E.164' }),
  status: SessionState,
  expires_at: Time(),
  attempts_allowed: Type.Integer(),
  resend_available_at: Time(),
  message_id: Type.String(),
}, { description: 'The session (never its code)' });

export const OtpSessionDetail = Type.Object({
  ...OtpSession.properties,
  attempts_remaining: Type.Integer(),
  resends: Type.Integer(),
  resends_remaining: Type.Integer(),
  verified_at: nullable(Time()),
  created_at: Time(),
  metadata: FreeForm,
}, { description: 'The session\'s state (never its code)' });

export const OtpVerifyReply = Type.Object({
  verified: Type.Boolean(),
  session_id: Type.String(),
  status: oneOf(['pending', 'verified', 'expired', 'locked']),
  attempts_remaining: Type.Integer(),
  reason: Type.Optional(Type.String()),
}, { description: 'The verdict: 200 whether or not the code was right' });

// Everything else ----------------------------------------------------------------------------

export const PhoneReport = Type.Object({
  input: Type.String(),
  valid: Type.Boolean(),
  possible: Type.Boolean(),
  e164: nullable(Type.String()),
  national_format: nullable(Type.String()),
  international_format: nullable(Type.String()),
  country_code: nullable(Type.String()),
  calling_code: nullable(Type.String()),
  type: nullable(Type.String({ description: 'libphonenumber type in lower case: mobile, fixed_line, ...' })),
  reason: nullable(Type.String()),
}, { description: 'What libphonenumber knows of the number, valid or not' });

const Figures = {
  total: Type.Integer(),
  accepted: Type.Integer(),
  delivered: Type.Integer(),
  segments: Type.Integer(),
  delivery_rate: Type.Number(),
  success_rate: Type.Number(),
  error_rate: Type.Number(),
  cost: Type.Number(),
};

export const Stats = Type.Object({
  date_from: nullable(Time()),
  date_to: nullable(Time()),
  total_messages: Type.Integer(),
  by_status: Type.Record(Type.String(), Type.Integer()),
  delivery_rate: Type.Number(),
  success_rate: Type.Number(),
  error_rate: Type.Number(),
  total_segments: Type.Integer(),
  total_cost: Type.Number(),
  cost_by_provider: Type.Record(Type.String(), Type.Number()),
  otp: Type.Object({
    generated: Type.Integer(),
    verified: Type.Integer(),
    expired: Type.Integer(),
    locked: Type.Integer(),
    otp_success_rate: Type.Number(),
    pumping: Type.Optional(Type.Object({
      throttled_countries: Type.Array(Type.Object({ country: Type.String(), throttled_until: Time() })),
      by_country: Type.Array(Type.Object({ country: Type.String(), generated: Type.Integer(), verified: Type.Integer(), conversion: Type.Number() })),
    })),
  }),
  otp_generated: Type.Integer(),
  otp_verified: Type.Integer(),
  otp_success_rate: Type.Number(),
  providers: Type.Array(Type.Object({ provider: Type.String(), ...Figures, median_delivery_seconds: nullable(Type.Number()) })),
  countries: Type.Array(Type.Object({ country: nullable(Type.String()), ...Figures })),
  sms_types: Type.Array(Type.Object({ sms_type: Type.String(), ...Figures })),
  group_by: Type.Enum(['hour', 'day'], { type: 'string' }),
  time_series: Type.Array(Type.Object({ period_start: Time(), ...Figures })),
}, { description: 'Statistics over the filtered messages' });

export const ProvidersReply = Type.Object({
  items: Type.Array(Type.Object({
    name: ProviderName,
    enabled: Type.Boolean(),
    default: Type.Boolean(),
    missing_variables: Type.Optional(Type.ReadonlyType(Type.Array(Type.String(), { description: 'what a disabled provider lacks' }))),
    capabilities: nullable(Type.Object({
      message_types: Type.ReadonlyType(Type.Array(Type.Enum(['text', 'unicode', 'binary', 'flash'], { type: 'string' }))),
      delivery_reports: Type.Boolean(),
      unicode: Type.Boolean(),
      max_parts: Type.Integer(),
      lookup: Type.String(),
    })),
    circuit: nullable(Type.Enum(['closed', 'open', 'half_open'], { type: 'string' })),
    // null: no budget (the simulator's default).
    budget_per_second: Type.Optional(nullable(Type.Number())),
    recent: nullable(Type.Object({ attempts: Type.Integer(), success_rate: nullable(Type.Number()), p50_ms: nullable(Type.Number()) })),
    connections: Type.Optional(Type.Object({
      binds: Type.Array(Type.Object({
        state: oneOf(['connecting', 'bound', 'waiting', 'closed']),
        since: Time(),
        last_error: nullable(Type.String()),
        // While waiting: when the next bind attempt is due.
        next_attempt_at: nullable(Time()),
      })),
      reconnects: Type.Integer({ description: 'binds lost or refused since start' }),
    }, { description: 'providers that hold connections open (SMPP): each bind and its state' })),
  })),
}, { description: 'Every provider the gateway knows' });

const KeyFields = {
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.Enum(SCOPES, { type: 'string' })),
  account_sid: Type.String({ description: 'the key\'s Twilio-style AC… id' }),
  created_at: Time(),
  last_used_at: nullable(Time()),
  revoked_at: nullable(Time()),
};
export const ApiKeyView = Type.Object(KeyFields, { description: 'The key (never its secret)' });
export const CreatedApiKey = Type.Object({ ...KeyFields, key: Type.String({ description: 'shown here and nowhere else, ever' }) }, { description: 'The new key, shown this once' });
export const ApiKeyList = Type.Object({ items: Type.Array(ApiKeyView) }, { description: 'Every key, revoked ones included, never their secrets' });

export const AuditRecord = Type.Object({
  id: Type.String(),
  time: Time(),
  key_id: nullable(Type.String()),
  action: Type.String(),
  resource: Type.String(),
  resource_id: nullable(Type.String()),
  result: Type.Integer({ description: 'HTTP status of the answer' }),
  ip: nullable(Type.String()),
});

export const OptOutRecord = Type.Object({
  number: Type.String({ description: 'E.164' }),
  reason: nullable(Type.String()),
  source: Type.String({ description: 'api, inbound, inbound:<provider>' }),
  created_at: Time(),
}, { description: 'The opt-out' });

export const InboundView = Type.Object({
  id: Type.String(),
  from: Type.String(),
  to: nullable(Type.String()),
  text: Type.String(),
  provider: nullable(Type.String()),
  provider_message_id: nullable(Type.String()),
  action: nullable(Type.Enum(['opt_out', 'opt_in'], { type: 'string', description: 'what the text did: STOP and the like opt out, START opts back in' })),
  received_at: Time(),
}, { description: 'The inbound message' });

export const InboundReceipt = Type.Object({ received: Type.Integer(), stored: Type.Integer() });

export const OutboxEntry = Type.Object({
  id: Type.String(),
  message_id: Type.String(),
  to: Type.String(),
  from: nullable(Type.String()),
  body: Type.String({ description: 'the full text, OTP codes included' }),
  encoding: EncodingValue,
  segments: Type.Integer(),
  accepted_at: Time(),
  delivery_status: Type.String({ description: 'pending, or the status the simulator reported' }),
});

/**
 * 204: no body. Typed `undefined` so that `reply.code(204).send()` needs no payload; `type: 'null'`
 * is what tells the document (and a generated client) there is no content.
 */
export const NoContent = (description: string) => Type.Unsafe<undefined>({ type: 'null', description });

// Problems ---------------------------------------------------------------------------------

const PROBLEM_DESCRIPTIONS = {
  400: 'Malformed request (JSON that does not parse)',
  401: 'API key missing, unknown or revoked; or a webhook signature that does not match',
  403: 'The API key lacks the scope',
  404: 'No such resource',
  409: 'Conflict with the resource\'s state',
  413: 'Body larger than the route accepts',
  422: 'Validation failed: `errors` names each field',
  429: 'Rate limited: see Retry-After',
  503: 'Not ready',
} as const;

export type ProblemStatus = keyof typeof PROBLEM_DESCRIPTIONS;

type ProblemResponse = { description: string; content: { 'application/problem+json': { schema: typeof Problem } } };

/** One problem+json response; keyed by media type so that the document says application/problem+json. */
export const problemResponse = (status: ProblemStatus): ProblemResponse => ({
  description: PROBLEM_DESCRIPTIONS[status],
  content: { 'application/problem+json': { schema: Problem } },
});

/**
 * The problem+json responses of a route, by status, plus `default`: any other error (415, 500,
 * ...) is a problem too, serialised with the same schema. `default` also lets a handler answer
 * with a status it computes (a replayed Idempotency-Key reply keeps the stored one).
 */
export function problems<S extends ProblemStatus>(...statuses: S[]): { [K in S]: ProblemResponse } & { default: ProblemResponse } {
  const byStatus = Object.fromEntries(statuses.map((s) => [s, problemResponse(s)])) as { [K in S]: ProblemResponse };
  return { ...byStatus, default: { description: 'Any other error', content: { 'application/problem+json': { schema: Problem } } } };
}

/** What a route with a scope can be refused with before it runs: key (401, 403) and rate limit (429). */
export const GUARDED = [401, 403, 429] as const;
/** What a route with a JSON body can be refused with besides its own errors. */
export const WITH_BODY = [400, 413, 422] as const;
