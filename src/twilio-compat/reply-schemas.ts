import { Type, type TSchema } from 'typebox';

/**
 * The Twilio-compatible replies, for the OpenAPI document and its generated clients. Every field
 * Twilio's SDKs read is declared: the serializer drops what a schema does not name.
 */
const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Rfc2822 = Type.String({ description: 'RFC 2822, GMT: Thu, 30 Jul 2015 20:12:31 +0000' });
const Iso = Type.String({ description: 'ISO 8601, to the second' });

export const TwilioErrorBody = Type.Object({
  code: Type.Integer({ description: 'Twilio\'s error code (https://www.twilio.com/docs/api/errors)' }),
  message: Type.String(),
  more_info: Type.String(),
  status: Type.Integer(),
});

const ERROR_DESCRIPTIONS = {
  400: 'Invalid parameter (Twilio\'s code names which)',
  401: '20003: credentials missing or wrong, or an AccountSid that is not the key\'s',
  403: 'The key lacks the scope (70051), or the destination is blocked (60605)',
  404: '20404: no such resource for this account',
  409: 'Conflict with the resource\'s state (20009)',
  413: 'Body larger than the route accepts',
  429: 'Rate limited (20429), or a Verify limit (60202, 60203): see Retry-After',
} as const;

type ErrorResponse = { description: string; content: { 'application/json': { schema: typeof TwilioErrorBody } } };

/** Twilio's error replies by status, plus `default` for anything else (500). */
export function twilioErrors<S extends keyof typeof ERROR_DESCRIPTIONS>(...statuses: S[]): { [K in S]: ErrorResponse } & { default: ErrorResponse } {
  const response = (description: string): ErrorResponse => ({ description, content: { 'application/json': { schema: TwilioErrorBody } } });
  const byStatus = Object.fromEntries(statuses.map((s) => [s, response(ERROR_DESCRIPTIONS[s])])) as { [K in S]: ErrorResponse };
  return { ...byStatus, default: response('Any other error') };
}

/** 204: no body (`type: 'null'` tells the document there is no content). */
export const NoContent = (description: string) => Type.Unsafe<undefined>({ type: 'null', description });

export const TwilioMessage = Type.Object({
  account_sid: Type.String(),
  api_version: Type.String(),
  body: Type.String(),
  date_created: Rfc2822,
  date_sent: nullable(Rfc2822),
  date_updated: Rfc2822,
  direction: Type.String({ description: 'outbound-api' }),
  error_code: nullable(Type.Integer()),
  error_message: nullable(Type.String()),
  from: nullable(Type.String()),
  messaging_service_sid: nullable(Type.String()),
  num_media: Type.String(),
  num_segments: Type.String(),
  price: nullable(Type.String({ description: 'negative, as Twilio reports a cost: "-0.00790"' })),
  price_unit: Type.String(),
  sid: Type.String({ description: 'SM + 32 hex, our message id re-encoded' }),
  status: Type.String({ description: 'accepted, scheduled, queued, sending, sent, delivered, undelivered, failed, canceled' }),
  subresource_uris: Type.Object({ media: Type.String() }),
  to: Type.String(),
  uri: Type.String(),
});

const paging = {
  page: Type.Integer(),
  page_size: Type.Integer(),
  start: Type.Integer(),
  end: Type.Integer(),
  uri: Type.String(),
  first_page_uri: Type.String(),
  next_page_uri: nullable(Type.String()),
  previous_page_uri: nullable(Type.String()),
};

export const TwilioMessagePage = Type.Object({ messages: Type.Array(TwilioMessage), ...paging });
export const TwilioMediaPage = Type.Object({ media_list: Type.Array(Type.Object({})), ...paging });

export const VerifyService = Type.Object({
  sid: Type.String({ description: 'VA + 32 hex' }),
  account_sid: Type.String(),
  friendly_name: Type.String(),
  code_length: Type.Integer(),
  lookup_enabled: Type.Boolean(),
  psd2_enabled: Type.Boolean(),
  skip_sms_to_landlines: Type.Boolean(),
  dtmf_input_required: Type.Boolean(),
  tts_name: nullable(Type.String()),
  do_not_share_warning_enabled: Type.Boolean(),
  custom_code_enabled: Type.Boolean(),
  push: Type.Object({ include_date: Type.Boolean(), apn_credential_sid: nullable(Type.String()), fcm_credential_sid: nullable(Type.String()) }),
  totp: Type.Object({ issuer: Type.String(), time_step: Type.Integer(), code_length: Type.Integer(), skew: Type.Integer() }),
  default_template_sid: nullable(Type.String()),
  whatsapp: Type.Object({ msg_service_sid: nullable(Type.String()), from: nullable(Type.String()) }),
  verify_event_subscription_enabled: Type.Boolean(),
  date_created: Iso,
  date_updated: Iso,
  url: Type.String(),
  links: Type.Object({ verifications: Type.String(), verification_checks: Type.String() }),
});

export const VerifyServicePage = Type.Object({
  services: Type.Array(VerifyService),
  meta: Type.Object({
    page: Type.Integer(),
    page_size: Type.Integer(),
    first_page_url: Type.String(),
    previous_page_url: nullable(Type.String()),
    url: Type.String(),
    next_page_url: nullable(Type.String()),
    key: Type.String(),
  }),
});

export const Verification = Type.Object({
  sid: Type.String({ description: 'VE + 32 hex' }),
  service_sid: Type.String(),
  account_sid: Type.String(),
  to: Type.String(),
  channel: Type.String(),
  status: Type.String({ description: 'pending, approved, canceled, max_attempts_reached' }),
  valid: Type.Boolean(),
  lookup: Type.Object({}),
  amount: nullable(Type.String()),
  payee: nullable(Type.String()),
  send_code_attempts: Type.Array(Type.Object({ attempt_sid: Type.String(), channel: Type.String(), time: Iso })),
  date_created: Iso,
  date_updated: Iso,
  sna: Type.Null(),
  url: Type.String(),
});

export const VerificationCheck = Type.Object({
  sid: Type.String({ description: 'the verification\'s VE SID' }),
  service_sid: Type.String(),
  account_sid: Type.String(),
  to: Type.String(),
  channel: Type.String(),
  status: Type.String({ description: 'approved or pending' }),
  valid: Type.Boolean(),
  amount: nullable(Type.String()),
  payee: nullable(Type.String()),
  date_created: Iso,
  date_updated: Iso,
  sna_attempts_error_codes: Type.Array(Type.Object({})),
});
