import type { Generated } from 'kysely';
import type { MessageStatus } from '../domain/message-status.js';
import type { SimulatorOutboxEntry } from '../providers/simulator.js';

/** Times are epoch milliseconds in every table: one representation for SQLite and PostgreSQL. */
export interface BatchesTable {
  id: string;
  name: string | null;
  kind: 'single' | 'batch';
  status: 'draft' | 'scheduled' | 'queued' | 'canceled';
  sms_type: string;
  message_type: string;
  provider: string;
  template_id: string | null;
  schedule_at: number | null;
  expire_at: number | null;
  callback_url: string | null;
  total_recipients: number;
  accepted: number;
  rejected: number;
  duplicates: number;
  total_segments: number;
  estimated_cost: number;
  currency: string;
  metadata: string | null;
  created_at: number;
  updated_at: number;
  key_id: string | null;
}

export interface MessagesTable {
  id: string;
  batch_id: string;
  to_number: string;
  country: string | null;
  from_number: string | null;
  body: string;
  message_type: string;
  sms_type: string;
  encoding: string;
  segments: number;
  priority: number;
  provider: string;
  status: string;
  provider_message_id: string | null;
  estimated_cost: number;
  cost: number | null;
  currency: string;
  attempts: number;
  error_code: string | null;
  error_message: string | null;
  custom_id: string | null;
  metadata: string | null;
  callback_url: string | null;
  template_id: string | null;
  template_version: number | null;
  schedule_at: number | null;
  expire_at: number | null;
  /** When the dispatcher may next pick it up (schedule time, or the next retry). */
  due_at: number;
  /** While `sending`: after this time the send is presumed dead and recovery takes over. */
  lease_until: number | null;
  created_at: number;
  updated_at: number;
  sent_at: number | null;
  final_at: number | null;
  sealed_body?: string | null;
  /** The API key that made it (null: keys off, or made before keys existed). */
  key_id: string | null;
  /** JSON array of the providers the message may go to, in order; null for messages from before routes. */
  route?: string | null;
  /**
   * How long the send a provider accepted took, set where that send is not stored as a send_attempts row:
   * with provider, provider_message_id and sent_at it is that attempt (dispatch-store.ts, findSendAttempts).
   */
  send_ms?: number | null;
}

/** The table as stored: with the columns the database fills in itself. */
export interface StoredMessagesTable extends MessagesTable {
  /**
   * Raised by every claim for sending and by nothing else: the claim's token (dispatch-store.ts, Claim).
   * Not `attempts`, which a claim handed back unsent lowers again.
   */
  claims: Generated<number>;
}

export interface SendAttemptsTable {
  id: string;
  message_id: string;
  provider: string;
  outcome: 'accepted' | 'rejected' | 'retry' | 'unknown';
  provider_message_id: string | null;
  error_code: string | null;
  provider_error_code: string | null;
  error_message: string | null;
  duration_ms: number;
  created_at: number;
}

export interface MessagePartsTable {
  provider: string;
  part_id: string;
  message_id: string;
  status: string;
  updated_at: number;
}

export interface EarlyReportsTable {
  id: string;
  provider: string;
  provider_message_id: string;
  /** The mapped StatusReport, JSON. */
  report: string;
  created_at: number;
}

export interface MessageEventsTable {
  /** Numbered by the database as it is inserted (migration 0017). */
  id: Generated<number>;
  message_id: string;
  status: string;
  previous_status: string | null;
  source: string;
  detail: string | null;
  created_at: number;
}

export interface IdempotencyKeysTable {
  key: string;
  request_hash: string;
  status_code: number;
  response: string;
  created_at: number;
}

export interface CallbacksTable {
  id: string;
  message_id: string;
  url: string;
  payload: string;
  status: 'pending' | 'delivered' | 'failed' | 'refused';
  attempts: number;
  next_attempt_at: number;
  lease_until: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

export interface CallbackAttemptsTable {
  id: string;
  callback_id: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  created_at: number;
}

/** The simulator provider's outbox entry, plus when its delivery report went out. */
export interface SimulatorOutboxTable extends SimulatorOutboxEntry {
  reported_at: number | null;
}

export interface SecretsTable {
  name: string;
  value: string;
  created_at: number;
}

export interface TemplatesTable {
  id: string;
  name: string;
  content: string;
  /** JSON array of variable names. */
  variables: string;
  category: string | null;
  sms_type: string;
  is_active: number;
  version: number;
  usage_count: number;
  last_used_at: number | null;
  deleted_at: number | null;
  created_at: number;
  updated_at: number;
  key_id: string | null;
}

/** A template as it was at one version: the template's own fields, frozen. */
export type TemplateVersionsTable = Pick<TemplatesTable, 'name' | 'content' | 'variables' | 'category' | 'sms_type' | 'is_active'> & {
  template_id: string;
  version: number;
  change: string;
  created_at: number;
};

export interface OtpSessionsTable {
  id: string;
  phone_number: string;
  status: 'pending' | 'verified' | 'expired' | 'locked' | 'superseded';
  /** HMAC-SHA256 of the code under a server secret: the code itself is never stored. */
  code_hash: string;
  alphanumeric: number;
  code_length: number;
  expiry_seconds: number;
  expires_at: number;
  failed_attempts: number;
  max_attempts: number;
  resends: number;
  last_sent_at: number;
  message_id: string;
  template_id: string | null;
  custom_message: string | null;
  metadata: string | null;
  verified_at: number | null;
  created_at: number;
  updated_at: number;
  key_id: string | null;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  /** JSON array of scopes. */
  scopes: string;
  key_hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface OptOutsTable {
  number: string;
  reason: string | null;
  /** `api`, `inbound:<provider>` or `inbound`. */
  source: string;
  created_at: number;
}

export interface InboundMessagesTable {
  id: string;
  from_number: string;
  to_number: string | null;
  body: string;
  provider: string | null;
  provider_message_id: string | null;
  /** `opt_out` or `opt_in` when the text was a keyword, else null. */
  action: string | null;
  received_at: number;
}

export interface AuditLogTable {
  /** Numbered by the database as it is inserted (migration 0017). */
  id: Generated<number>;
  created_at: number;
  key_id: string | null;
  action: string;
  resource: string;
  resource_id: string | null;
  /** HTTP status of the call. */
  result: number;
  ip: string | null;
}

export interface Database {
  templates: TemplatesTable;
  template_versions: TemplateVersionsTable;
  otp_sessions: OtpSessionsTable;
  batches: BatchesTable;
  messages: StoredMessagesTable;
  message_events: MessageEventsTable;
  idempotency_keys: IdempotencyKeysTable;
  callbacks: CallbacksTable;
  callback_attempts: CallbackAttemptsTable;
  simulator_outbox: SimulatorOutboxTable;
  secrets: SecretsTable;
  send_attempts: SendAttemptsTable;
  message_parts: MessagePartsTable;
  early_reports: EarlyReportsTable;
  api_keys: ApiKeysTable;
  opt_outs: OptOutsTable;
  inbound_messages: InboundMessagesTable;
  audit_log: AuditLogTable;
}

// --- the Twilio-compatible API (src/twilio-compat) ---------------------------------------------

export interface MessagesTable {
  /** 'twilio': callbacks in Twilio's form format, signed with the key; null: our JSON callbacks. */
  callback_format?: string | null;
}

export interface TwilioMessagesTable {
  message_id: string;
  messaging_service_sid: string | null;
  /** Deleted through the Twilio API: gone from it, its text erased; the delivery record stays. */
  deleted_at: number | null;
  created_at: number;
}

export interface TwilioAuthTokensTable {
  key_id: string;
  /** The API key itself, sealed (FieldCipher): the secret Twilio-format callbacks are signed with. */
  sealed_token: string;
  updated_at: number;
}

export interface VerifyServicesTable {
  sid: string;
  key_id: string | null;
  friendly_name: string;
  code_length: number;
  created_at: number;
  updated_at: number;
}

export interface VerificationsTable {
  sid: string;
  service_sid: string;
  /** The OTP session carrying the code (otp_sessions.id). */
  session_id: string;
  to_number: string;
  channel: string;
  /** 'pending', or what the Twilio API made of it: 'approved', 'canceled'. */
  status: string;
  send_attempts: string;
  key_id: string | null;
  created_at: number;
  updated_at: number;
}

export interface Database {
  twilio_messages: TwilioMessagesTable;
  twilio_auth_tokens: TwilioAuthTokensTable;
  verify_services: VerifyServicesTable;
  verifications: VerificationsTable;
}

// --- SMPP (src/providers/smpp, src/smpp-server) ------------------------------------------------

export interface MessagesTable {
  /** `smpp:<system_id>` for a message an ESME submitted over SMPP; null for the HTTP APIs. */
  submitted_via?: string | null;
}

/** An ESME's login to the SMPP server: SMPP passwords are at most 8 characters, so not API keys. */
export interface SmppAccountsTable {
  system_id: string;
  /** Keyed hash of the password (as API keys are kept). */
  password_hash: string;
  /** Submits per second over all the account's binds; past it, ESME_RTHROTTLED. */
  throughput_per_second: number;
  max_binds: number;
  /** JSON array of scopes: `sms:send` to submit. */
  scopes: string;
  created_at: number;
}

/** What a receipt to the ESME needs about a message it submitted. */
export interface SmppSubmissionsTable {
  message_id: string;
  system_id: string;
  /** The submit's registered_delivery: 1 every final outcome, 2 failures only. */
  registered_delivery: number;
  /** The ids each part was answered with (JSON array), one receipt each. */
  part_ids: string;
  source_ton: number;
  source_npi: number;
  source_addr: string;
  dest_ton: number;
  dest_npi: number;
  dest_addr: string;
  created_at: number;
}

export interface Database {
  smpp_accounts: SmppAccountsTable;
  smpp_submissions: SmppSubmissionsTable;
}

// --- Analytics summaries (src/store/analytics-summary.ts), kept by triggers on messages -------------

/** Messages per hour of created_at and per what the statistics group or test by; shards are summed on read. */
export interface MessageStatsTable {
  hour_start: number;
  provider: string;
  sms_type: string;
  /** '' when the message has no country. */
  country: string;
  status: string;
  /** 1 when sent_at is set (a provider accepted it). */
  sent: number;
  /** 1 when attempts > 0. */
  attempted: number;
  shard: number;
  message_count: number;
  segment_count: number;
  /** Sum of coalesce(cost, estimated_cost). */
  cost_sum: number;
}

/** What the time series shows, per hour, provider and sms_type. */
export interface MessageSeriesTable {
  hour_start: number;
  provider: string;
  sms_type: string;
  shard: number;
  message_count: number;
  /** Messages with sent_at set. */
  accepted: number;
  delivered: number;
  /** failed or undelivered. */
  errors: number;
  /** Sent, or failed after an attempt. */
  finished: number;
  segment_count: number;
  /** Sum of coalesce(cost, estimated_cost) over accepted messages. */
  cost_sum: number;
}

/** Histogram of final_at - sent_at over delivered messages (src/domain/delivery-histogram.ts). */
export interface MessageDeliveryTimesTable {
  hour_start: number;
  provider: string;
  sms_type: string;
  bucket: number;
  shard: number;
  deliveries: number;
  total_ms: number;
}

/** The same histogram per UTC day (day_start: created_at rounded down to the day), for long ranges. */
export type MessageDeliveryDaysTable = Omit<MessageDeliveryTimesTable, 'hour_start'> & { day_start: number };

/** Messages stored now per key ('' for the operator's), provider and type, a column per status (src/store/message-totals.ts). */
export type MessageTotalsTable = { key_id: string; provider: string; sms_type: string; shard: number } & Record<MessageStatus, number>;

/** A campaign's messages per status, their segments and billed cost, per shard (src/store/batch-totals.ts). */
export type BatchTotalsTable = { batch_id: string; shard: number; segments: number; billed_cost: number } & Record<MessageStatus, number>;

export interface Database {
  message_totals: MessageTotalsTable;
  batch_totals: BatchTotalsTable;
  message_stats: MessageStatsTable;
  message_series: MessageSeriesTable;
  message_delivery_times: MessageDeliveryTimesTable;
  message_delivery_days: MessageDeliveryDaysTable;
}
