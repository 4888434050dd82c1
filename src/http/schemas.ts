import { Type } from 'typebox';
import { PROVIDER_NAMES } from '../config.js';
import { MESSAGE_STATUSES, REPORTABLE_STATUSES, SMS_TYPES } from '../domain/message-status.js';
import { METADATA_LIMITS } from '../domain/metadata.js';

export const SmsTypeSchema = Type.Union(SMS_TYPES.map((v) => Type.Literal(v)));
export const MessageTypeSchema = Type.Union([Type.Literal('text'), Type.Literal('unicode'), Type.Literal('binary'), Type.Literal('flash')]);
export const ProviderSchema = Type.Union(PROVIDER_NAMES.map((v) => Type.Literal(v)));
export const MessageStatusSchema = Type.Union(MESSAGE_STATUSES.map((v) => Type.Literal(v)));

/**
 * Template variables: bounded so that no request can make rendering expensive. A value longer
 * than any message could hold is useless; rendering also stops at MAX_MESSAGE_LENGTH.
 */
export const VARIABLE_LIMITS = { count: 50, nameLength: 64, valueLength: 10_000 } as const;
export const VariablesSchema = Type.Record(
  Type.String(),
  Type.Union([Type.String({ maxLength: VARIABLE_LIMITS.valueLength }), Type.Number(), Type.Boolean()]),
  { maxProperties: VARIABLE_LIMITS.count, propertyNames: { maxLength: VARIABLE_LIMITS.nameLength } },
);

/** Any JSON the client likes, within METADATA_LIMITS (the size checks are in domain/metadata). */
export const MetadataSchema = Type.Record(Type.String(), Type.Unknown(), {
  maxProperties: METADATA_LIMITS.keys, propertyNames: { maxLength: METADATA_LIMITS.keyLength },
});

export const PhoneNumberSchema = Type.Object({
  number: Type.String({ minLength: 1, maxLength: 32, description: 'E.164, or national with country_code / DEFAULT_COUNTRY' }),
  country_code: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}$', description: 'ISO 3166 alpha-2' })),
  name: Type.Optional(Type.String({ maxLength: 200 })),
  variables: Type.Optional(VariablesSchema),
});

/** MAX_MESSAGE_LENGTH's own ceiling; the configured length is checked by the service, naming the field. */
const MAX_TEXT = 100_000;

const common = {
  from_number: Type.Optional(Type.String({ minLength: 1, maxLength: 32 })),
  message_type: Type.Optional(MessageTypeSchema),
  sms_type: Type.Optional(SmsTypeSchema),
  provider: Type.Optional(ProviderSchema),
  schedule_at: Type.Optional(Type.String({ format: 'date-time' })),
  expire_at: Type.Optional(Type.String({ format: 'date-time' })),
  priority: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
  callback_url: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })),
  custom_id: Type.Optional(Type.String({ maxLength: 200 })),
  metadata: Type.Optional(MetadataSchema),
  template_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  template_variables: Type.Optional(VariablesSchema),
};

export const SendSmsBody = Type.Object({
  to: Type.Array(PhoneNumberSchema, { minItems: 1 }),
  message: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_TEXT })),
  ...common,
});

export const SendBatchBody = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 200 })),
  recipients: Type.Array(PhoneNumberSchema, { minItems: 1 }),
  message: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_TEXT })),
  send_immediately: Type.Optional(Type.Boolean({ default: true })),
  ...common,
});

/** Deeper pages than this are reached with filters (dates, status), not by counting rows. */
export const MAX_OFFSET = 100_000_000;
export const Offset = Type.Integer({ minimum: 0, maximum: MAX_OFFSET, default: 0 });

export const ListSmsQuery = Type.Object({
  status: Type.Optional(MessageStatusSchema),
  sms_type: Type.Optional(SmsTypeSchema),
  provider: Type.Optional(ProviderSchema),
  batch_id: Type.Optional(Type.String({ maxLength: 100 })),
  to: Type.Optional(Type.String({ maxLength: 32 })),
  date_from: Type.Optional(Type.String({ format: 'date-time' })),
  date_to: Type.Optional(Type.String({ format: 'date-time' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  offset: Type.Optional(Offset),
  cursor: Type.Optional(Type.String({
    pattern: '^msg_[0-9A-Za-z]{1,60}$',
    description: 'The `next_cursor` of the previous page: the page after it, as fast at row 1,000,000 as at row 50 (unlike `offset`). Not with `offset`.',
  })),
});

export const DeliveryReportBody = Type.Object({
  // What a provider can tell: that it took the message, and what became of it.
  status: Type.Union(REPORTABLE_STATUSES.map((v) => Type.Literal(v))),
  timestamp: Type.Optional(Type.String({ format: 'date-time' })),
  provider: Type.Optional(ProviderSchema),
  error_code: Type.Optional(Type.Union([Type.String(), Type.Integer(), Type.Null()])),
  error_message: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  provider_message_id: Type.Optional(Type.String({ maxLength: 200 })),
});

export const StatsQuery = Type.Object({
  date_from: Type.Optional(Type.String({ format: 'date-time' })),
  date_to: Type.Optional(Type.String({ format: 'date-time' })),
  provider: Type.Optional(ProviderSchema),
  sms_type: Type.Optional(SmsTypeSchema),
  group_by: Type.Optional(Type.Union([Type.Literal('hour'), Type.Literal('day')])),
});

export const IdParams = (name: string) => Type.Object({ [name]: Type.String({ minLength: 1, maxLength: 100 }) });

export const Problem = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String(), reason: Type.Optional(Type.String()) }))),
});
