import { Migrator, PostgresAdapter, sql, type CreateTableBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { messageStatsMigration, summaryTriggersRevision } from './analytics-summary.js';
import { messageTotalsMigration } from './message-totals.js';
import { batchTotalsMigration } from './batch-totals.js';
import { numberedKeysMigration } from './numbered-keys.js';
import { rebuildWithoutRowid } from './without-rowid.js';

const money = sql`double precision`;

/** What a template and each of its versions both hold. */
function templateFields<T extends string, C extends string>(table: CreateTableBuilder<T, C>) {
  return table
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('variables', 'text', (c) => c.notNull())
    .addColumn('category', 'text')
    .addColumn('sms_type', 'text', (c) => c.notNull())
    .addColumn('is_active', 'integer', (c) => c.notNull());
}

/** One schema for SQLite and PostgreSQL: text ids, bigint epoch-ms times, double precision money. */
export const migrations: Record<string, Migration> = {
  '0001_messages': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('batches')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('sms_type', 'text', (c) => c.notNull())
        .addColumn('message_type', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('template_id', 'text')
        .addColumn('schedule_at', 'bigint')
        .addColumn('expire_at', 'bigint')
        .addColumn('callback_url', 'text')
        .addColumn('total_recipients', 'integer', (c) => c.notNull())
        .addColumn('accepted', 'integer', (c) => c.notNull())
        .addColumn('rejected', 'integer', (c) => c.notNull())
        .addColumn('duplicates', 'integer', (c) => c.notNull())
        .addColumn('total_segments', 'integer', (c) => c.notNull())
        .addColumn('estimated_cost', money, (c) => c.notNull())
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('metadata', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('batch_id', 'text', (c) => c.notNull())
        .addColumn('to_number', 'text', (c) => c.notNull())
        .addColumn('country', 'text')
        .addColumn('from_number', 'text')
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('message_type', 'text', (c) => c.notNull())
        .addColumn('sms_type', 'text', (c) => c.notNull())
        .addColumn('encoding', 'text', (c) => c.notNull())
        .addColumn('segments', 'integer', (c) => c.notNull())
        .addColumn('priority', 'integer', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('provider_message_id', 'text')
        .addColumn('estimated_cost', money, (c) => c.notNull())
        .addColumn('cost', money)
        .addColumn('currency', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('custom_id', 'text')
        .addColumn('metadata', 'text')
        .addColumn('callback_url', 'text')
        .addColumn('template_id', 'text')
        .addColumn('template_version', 'integer')
        .addColumn('schedule_at', 'bigint')
        .addColumn('expire_at', 'bigint')
        .addColumn('due_at', 'bigint', (c) => c.notNull())
        .addColumn('lease_until', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('sent_at', 'bigint')
        .addColumn('final_at', 'bigint')
        .execute();
      // The dispatcher's claim (due messages of one provider, most urgent first) and recovery's scan of `sending`.
      // Listing newest first walks the primary key: ids start with their creation time.
      await db.schema.createIndex('messages_dispatch').on('messages').columns(['status', 'provider', 'priority', 'due_at', 'id']).execute();
      // Not (batch_id, status): every status change would then move an index entry.
      await db.schema.createIndex('messages_batch').on('messages').columns(['batch_id']).execute();
      // Partial: only messages with an expiry are indexed for the expiry sweep.
      await db.schema.createIndex('messages_expiry').on('messages').columns(['status', 'expire_at']).where(sql.ref('expire_at'), 'is not', null).execute();
      await db.schema.createIndex('messages_to').on('messages').columns(['to_number', 'created_at']).execute();
      await db.schema.createIndex('messages_provider_id').on('messages').columns(['provider', 'provider_message_id']).execute();

      await db.schema
        .createTable('message_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('previous_status', 'text')
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('detail', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('message_events_message').on('message_events').columns(['message_id', 'created_at']).execute();

      await db.schema
        .createTable('idempotency_keys')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('status_code', 'integer', (c) => c.notNull())
        .addColumn('response', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('callbacks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('lease_until', 'bigint')
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('callbacks_due').on('callbacks').columns(['status', 'next_attempt_at']).execute();
      await db.schema.createIndex('callbacks_message').on('callbacks').columns(['message_id']).execute();

      await db.schema
        .createTable('callback_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('callback_id', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('error', 'text')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('callback_attempts_callback').on('callback_attempts').columns(['callback_id']).execute();

      await db.schema
        .createTable('simulator_outbox')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('to_number', 'text', (c) => c.notNull())
        .addColumn('from_number', 'text')
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('encoding', 'text', (c) => c.notNull())
        .addColumn('segments', 'integer', (c) => c.notNull())
        .addColumn('accepted_at', 'bigint', (c) => c.notNull())
        .addColumn('report_due_at', 'bigint', (c) => c.notNull())
        .addColumn('report_status', 'text', (c) => c.notNull())
        .addColumn('reported_at', 'bigint')
        .execute();
      await db.schema.createIndex('simulator_outbox_message').on('simulator_outbox').columns(['message_id']).execute();
      await db.schema.createIndex('simulator_outbox_to').on('simulator_outbox').columns(['to_number']).execute();
      await db.schema.createIndex('simulator_outbox_report').on('simulator_outbox').columns(['reported_at', 'report_due_at']).execute();

      await db.schema
        .createTable('secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0002_templates_otp': {
    async up(db: Kysely<any>) {
      await templateFields(db.schema
        .createTable('templates')
        .addColumn('id', 'text', (c) => c.primaryKey()))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('usage_count', 'integer', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .addColumn('deleted_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('templates_category').on('templates').columns(['category', 'sms_type']).execute();

      await templateFields(db.schema
        .createTable('template_versions')
        .addColumn('template_id', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull()))
        .addColumn('change', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('template_versions_pk', ['template_id', 'version'])
        .execute();

      await db.schema
        .createTable('otp_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('phone_number', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('code_hash', 'text', (c) => c.notNull())
        .addColumn('alphanumeric', 'integer', (c) => c.notNull())
        .addColumn('code_length', 'integer', (c) => c.notNull())
        .addColumn('expiry_seconds', 'integer', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('failed_attempts', 'integer', (c) => c.notNull())
        .addColumn('max_attempts', 'integer', (c) => c.notNull())
        .addColumn('resends', 'integer', (c) => c.notNull())
        .addColumn('last_sent_at', 'bigint', (c) => c.notNull())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('template_id', 'text')
        .addColumn('custom_message', 'text')
        .addColumn('metadata', 'text')
        .addColumn('verified_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('otp_sessions_number').on('otp_sessions').columns(['phone_number', 'status', 'created_at']).execute();
      await db.schema.createIndex('otp_sessions_created').on('otp_sessions').columns(['created_at']).execute();

      // The text to put on the air when `body` is stored masked (OTP codes): sealed with a server
      // key, and cleared once the provider has it.
      await db.schema.alterTable('messages').addColumn('sealed_body', 'text').execute();
    },
  },
  '0003_provider_routes': {
    async up(db: Kysely<any>) {
      // The providers a message may go to, in order (JSON array); `provider` is the one it is with now.
      await db.schema.alterTable('messages').addColumn('route', 'text').execute();
      await db.schema
        .createTable('send_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('provider_message_id', 'text')
        .addColumn('error_code', 'text')
        .addColumn('provider_error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('send_attempts_message').on('send_attempts').columns(['message_id', 'created_at']).execute();
      // One row per part of a message a provider sent (and reports) as several.
      await db.schema
        .createTable('message_parts')
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('part_id', 'text', (c) => c.notNull())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('message_parts_pk', ['provider', 'part_id'])
        .execute();
      await db.schema.createIndex('message_parts_message').on('message_parts').columns(['message_id']).execute();
      // Reports that arrived before the send's answer (and so the provider's id) was stored.
      await db.schema
        .createTable('early_reports')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('provider', 'text', (c) => c.notNull())
        .addColumn('provider_message_id', 'text', (c) => c.notNull())
        .addColumn('report', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('early_reports_lookup').on('early_reports').columns(['provider', 'provider_message_id']).execute();
    },
  },
  '0004_keys_opt_outs_audit': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('scopes', 'text', (c) => c.notNull())
        // HMAC of the key under a server key: the key itself is shown once and never stored.
        .addColumn('key_hash', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      // Which key made each row (null: made with keys off, or before keys existed).
      for (const table of ['messages', 'batches', 'otp_sessions', 'templates']) {
        await db.schema.alterTable(table).addColumn('key_id', 'text').execute();
      }
      await db.schema.createIndex('messages_key').on('messages').columns(['key_id', 'id']).execute();
      await db.schema
        .createTable('opt_outs')
        .addColumn('number', 'text', (c) => c.primaryKey())
        .addColumn('reason', 'text')
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('inbound_messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('from_number', 'text', (c) => c.notNull())
        .addColumn('to_number', 'text')
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('provider', 'text')
        .addColumn('provider_message_id', 'text')
        .addColumn('action', 'text')
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('inbound_from').on('inbound_messages').columns(['from_number', 'received_at']).execute();
      await db.schema
        .createTable('audit_log')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('key_id', 'text')
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('resource', 'text', (c) => c.notNull())
        .addColumn('resource_id', 'text')
        .addColumn('result', 'integer', (c) => c.notNull())
        .addColumn('ip', 'text')
        .execute();
      await db.schema.createIndex('audit_log_time').on('audit_log').columns(['created_at']).execute();
    },
  },
  '0005_twilio_compat': {
    async up(db: Kysely<any>) {
      // 'twilio': status callbacks go out in Twilio's form format, signed with the key (null: our JSON).
      await db.schema.alterTable('messages').addColumn('callback_format', 'text').execute();
      // The Messages resource's DateSent filters, per account.
      await db.schema.createIndex('messages_key_sent').on('messages').columns(['key_id', 'sent_at']).execute();
      // What the Twilio API knows of a message beyond the message itself.
      await db.schema
        .createTable('twilio_messages')
        .addColumn('message_id', 'text', (c) => c.primaryKey())
        .addColumn('messaging_service_sid', 'text')
        .addColumn('deleted_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      // A key's own text, sealed like message texts: Twilio callbacks are signed with the auth token itself.
      await db.schema
        .createTable('twilio_auth_tokens')
        .addColumn('key_id', 'text', (c) => c.primaryKey())
        .addColumn('sealed_token', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('verify_services')
        .addColumn('sid', 'text', (c) => c.primaryKey())
        .addColumn('key_id', 'text')
        .addColumn('friendly_name', 'text', (c) => c.notNull())
        .addColumn('code_length', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('verify_services_key').on('verify_services').columns(['key_id', 'created_at']).execute();
      await db.schema
        .createTable('verifications')
        .addColumn('sid', 'text', (c) => c.primaryKey())
        .addColumn('service_sid', 'text', (c) => c.notNull())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('to_number', 'text', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        // JSON array of {attempt_sid, channel, time}.
        .addColumn('send_attempts', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('verifications_to').on('verifications').columns(['service_sid', 'to_number', 'created_at']).execute();
    },
  },
  '0007_list_indexes': {
    // GET /api/sms lists newest first (by id, which begins with the creation time) under one filter:
    // an index per filter that ends in the id answers a page by a seek, however many rows match,
    // where the older indexes (or none) made SQLite sort every match first.
    async up(db) {
      await db.schema.createIndex('messages_status_id').on('messages').columns(['status', 'id']).execute();
      await db.schema.createIndex('messages_type_id').on('messages').columns(['sms_type', 'id']).execute();
      await db.schema.createIndex('messages_provider_list').on('messages').columns(['provider', 'id']).execute();
      await db.schema.dropIndex('messages_batch').execute();
      await db.schema.createIndex('messages_batch').on('messages').columns(['batch_id', 'id']).execute();
      await db.schema.dropIndex('messages_to').execute();
      await db.schema.createIndex('messages_to').on('messages').columns(['to_number', 'id']).execute();
    },
  },
  // Summaries for GET /api/analytics/stats, kept by triggers on messages (src/store/analytics-summary.ts).
  '0008_message_stats': messageStatsMigration,
  '0009_smpp': {
    async up(db) {
      await db.schema.alterTable('messages').addColumn('submitted_via', 'text').execute();
      await db.schema
        .createTable('smpp_accounts')
        .addColumn('system_id', 'text', (c) => c.primaryKey())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('throughput_per_second', 'integer', (c) => c.notNull())
        .addColumn('max_binds', 'integer', (c) => c.notNull())
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('smpp_submissions')
        .addColumn('message_id', 'text', (c) => c.primaryKey())
        .addColumn('system_id', 'text', (c) => c.notNull())
        .addColumn('registered_delivery', 'integer', (c) => c.notNull())
        .addColumn('part_ids', 'text', (c) => c.notNull())
        .addColumn('source_ton', 'integer', (c) => c.notNull())
        .addColumn('source_npi', 'integer', (c) => c.notNull())
        .addColumn('source_addr', 'text', (c) => c.notNull())
        .addColumn('dest_ton', 'integer', (c) => c.notNull())
        .addColumn('dest_npi', 'integer', (c) => c.notNull())
        .addColumn('dest_addr', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0010_campaign_index': {
    // GET /api/sms/batches pages and counts campaigns; every single send has a batch row too (half a
    // million at 1,000,000 messages), which the page and its count otherwise read through. Partial: the
    // single sends' rows are not in it, so a send writes nothing more.
    async up(db) {
      await sql`create index batches_campaigns on batches (id) where kind = 'batch'`.execute(db);
      await sql`create index batches_campaigns_key on batches (key_id, id) where kind = 'batch'`.execute(db);
    },
  },
  '0011_queue_indexes': {
    // messages_dispatch indexed every message by status, so each of a message's status changes moved
    // its entry, and it kept one for every final message ever stored. messages_queue holds only the
    // queued: a message enters it when accepted and leaves it when claimed. The claim names the status
    // as a literal (statusLiteral in message-store.ts). Recovery's scan of `sending` and the scheduler's of `scheduled` read
    // messages_status_id, as they could only use the status prefix of messages_dispatch before.
    async up(db) {
      await sql`create index messages_queue on messages (provider, priority, due_at, id) where status = 'queued'`.execute(db);
      await db.schema.dropIndex('messages_dispatch').execute();
      // The same for the simulator's reports still to go out: each report moved its entry in the old index.
      await sql`create index simulator_outbox_pending on simulator_outbox (report_due_at) where reported_at is null`.execute(db);
      await db.schema.dropIndex('simulator_outbox_report').execute();
      // A batch row per single send, and no full secondary index (src/store/without-rowid.ts): 28 bytes and
      // a b-tree fewer per send. Events, send attempts and the audit log were measured too and left as they
      // are: their secondary index then holds the id instead of the rowid, which ate the gain (bench/RESULTS.md).
      // PostgreSQL's tables have no rowid to drop.
      if (db.getExecutor().adapter instanceof PostgresAdapter) return;
      await rebuildWithoutRowid(db, 'batches');
    },
  },
  '0012_summary_triggers': summaryTriggersRevision,
  '0013_message_totals': messageTotalsMigration,
  '0014_batch_totals': batchTotalsMigration,
  '0015_claim_tokens': {
    // A claim's token (dispatch-store.ts, Claim): raised by every claim, lowered by nothing. `attempts`
    // served until it was found that a claim handed back unsent lowers it, so an older claim's token
    // could come back. A constant default: neither database rewrites the table to add it.
    async up(db) {
      // PostgreSQL: the ALTER's exclusive lock would wait behind a long reader (a pg_dump) and queue every
      // query on messages behind it. Give up soon instead; the restart tries again (docs/deployment.md).
      if (db.getExecutor().adapter instanceof PostgresAdapter) await sql`set local lock_timeout = '5s'`.execute(db);
      await db.schema.alterTable('messages').addColumn('claims', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  },
  '0016_accepted_send_on_message': {
    // A message's accepted send is its provider, provider id and sent_at, all on the message already: only how
    // long it took is added, instead of a send_attempts row (~230 bytes with its indexes) per message sent
    // (dispatch-store.ts, findSendAttempts). Nullable, no default: neither database rewrites the table.
    async up(db) {
      if (db.getExecutor().adapter instanceof PostgresAdapter) await sql`set local lock_timeout = '5s'`.execute(db);
      await db.schema.alterTable('messages').addColumn('send_ms', 'integer').execute();
    },
  },
  '0017_numbered_keys': numberedKeysMigration,
  '0018_scheduled_index': {
    // The scheduler looks for scheduled messages that are due every 500 ms. Through messages_status_id it read
    // every scheduled message, due or not (100,000 of a campaign set for tomorrow: each look inside the write
    // lock); this holds only the scheduled, by due time, as messages_queue holds the queued. The status leads the
    // key although every entry has the same one: without statistics, SQLite's planner prefers an index that
    // takes both the status and the time to messages_status_id, not one that takes the time alone.
    async up(db) {
      if (db.getExecutor().adapter instanceof PostgresAdapter) await sql`set local lock_timeout = '5s'`.execute(db);
      await sql`create index messages_scheduled on messages (status, due_at) where status = 'scheduled'`.execute(db);
    },
  },
  '0019_idempotency_expiry': {
    // The replies of Idempotency-Key answer for 24 hours; the purge (services/idempotency-purge.ts) finds the
    // older ones by time instead of reading every key.
    async up(db) {
      if (db.getExecutor().adapter instanceof PostgresAdapter) await sql`set local lock_timeout = '5s'`.execute(db);
      await db.schema.createIndex('idempotency_keys_created').on('idempotency_keys').columns(['created_at']).execute();
    },
  },
  '0020_routed_queue_index': {
    // While a provider's circuit is open, every poll looks for its queued messages that another provider could
    // take (a route). Through messages_queue it read every due message of the provider, routed or not (the whole
    // backlog of an outage, inside the write lock, every 50 ms). This holds only the queued that have a route.
    async up(db) {
      if (db.getExecutor().adapter instanceof PostgresAdapter) await sql`set local lock_timeout = '5s'`.execute(db);
      await sql`create index messages_queue_routed on messages (provider, priority, due_at, id) where status = 'queued' and route is not null`.execute(db);
    },
  },
  '0021_list_time_indexes': {
    // GET /api/opt-outs and GET /api/inbound list newest first. Without an index in that order each page sorted
    // the whole table (a STOP per unhappy recipient, every reply received: both grow with the traffic).
    // GET /api/audit filtered by action read the whole log (a row per API call) to count it: a rare action
    // (who deleted a key) is what the log is read for. Not by key: that index cost 47 bytes a row (a text id in
    // every entry) against 27 for the action's, and a key's calls are most of the log or found by date.
    async up(db) {
      const onPostgres = db.getExecutor().adapter instanceof PostgresAdapter;
      if (onPostgres) await sql`set local lock_timeout = '5s'`.execute(db);
      await db.schema.createIndex('opt_outs_time').on('opt_outs').columns(['created_at', 'number']).execute();
      await db.schema.createIndex('inbound_time').on('inbound_messages').columns(['received_at', 'id']).execute();
      // As audit_log_time: SQLite keeps the rowid, the number, in every entry; PostgreSQL gets it written in.
      const newestFirst = onPostgres ? ['created_at', 'id'] : ['created_at'];
      await db.schema.createIndex('audit_log_action').on('audit_log').columns(['action', ...newestFirst]).execute();
    },
  },
  '0022_callbacks_due_by_kind': {
    // The outbox holds HTTP callbacks and SMPP receipts (url `smpp:<system_id>`), and both claims read
    // callbacks_due, every pending row by time, skipping the other kind's. Receipts for an account with no
    // receiving bind stay due until one binds (they are given up 72 h on, but only at an attempt), so the HTTP claim read
    // past all of them, inside the write lock, every 200 ms. Each claim has its own index now; the literal
    // conditions are the ones the claims write (SQLite matches a partial index only on literals). The status
    // leads the HTTP index's key, as in messages_scheduled: else SQLite's planner prefers callbacks_due.
    // callbacks_due is no longer read by this version, but stays: older processes claim along it while versions
    // are mixed during an upgrade. A later version may drop it (one index write less per callback change).
    async up(db) {
      if (db.getExecutor().adapter instanceof PostgresAdapter) await sql`set local lock_timeout = '5s'`.execute(db);
      await sql`create index callbacks_due_http on callbacks (status, next_attempt_at) where status = 'pending' and url not like 'smpp:%'`.execute(db);
      await sql`create index callbacks_due_smpp on callbacks (url, next_attempt_at) where status = 'pending' and url like 'smpp:%'`.execute(db);
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrate(db: Kysely<any>, dialect: 'sqlite' | 'postgres'): Promise<void> {
  // On PostgreSQL the migration tables live in the schema the connection works in (search_path);
  // without saying so, Kysely finds another schema's tables and takes them for ours.
  const migrationTableSchema = dialect === 'postgres'
    ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0].schema
    : undefined;
  // Kysely's migrator holds a lock (a row of kysely_migration_lock, locked for the run) while it works,
  // so processes starting together migrate one after the other; and it refuses a database that has
  // migrations this version does not know (`previously executed migration … is missing`).
  const { error, results } = dialect === 'sqlite'
    // Kysely takes no lock on SQLite (it assumes one connection): several processes on one file would race.
    // One write transaction around the whole run makes them wait their turn (busy_timeout), then find nothing to do.
    ? await db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      try {
        const outcome = await new Migrator({ db: conn, provider }).migrateToLatest();
        await sql.raw(outcome.error ? 'rollback' : 'commit').execute(conn);
        return outcome;
      } catch (err) {
        await sql`rollback`.execute(conn);
        throw err;
      }
    })
    : await new Migrator({ db, provider, migrationTableSchema }).migrateToLatest();
  if (error) {
    const message = (error as Error).message;
    const unknown = /previously executed migration (\S+) is missing/.exec(message);
    if (unknown) {
      throw new Error(`the database schema is newer than this gateway knows (migration ${unknown[1]} is not part of it): run the newer version, or restore a backup`);
    }
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${message}`);
  }
}
