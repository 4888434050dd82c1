import type { FieldCipher } from '../domain/field-cipher.js';
import { parseMetadata, type MessageRow } from '../store/message-store.js';

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** A stored message as the API shows it; `batchMetadata` is its batch's, which messages share. */
export function messageView(m: MessageRow, batchMetadata: string | null, cipher: FieldCipher) {
  return {
    id: m.id,
    batch_id: m.batch_id,
    to: m.to_number,
    country_code: m.country,
    from_number: m.from_number,
    message: cipher.open(m.body),
    message_type: m.message_type,
    sms_type: m.sms_type,
    status: m.status,
    priority: m.priority,
    provider: m.provider,
    route: m.route ? JSON.parse(m.route) : [m.provider],
    provider_message_id: m.provider_message_id,
    segments: m.segments,
    encoding: m.encoding,
    estimated_cost: m.estimated_cost,
    cost: m.cost,
    currency: m.currency,
    attempts: m.attempts,
    error_code: m.error_code,
    error_message: m.error_message,
    custom_id: m.custom_id,
    metadata: parseMetadata(m.metadata ?? batchMetadata, cipher),
    // An SMPP submission's receipts go back on its binds: its callback_url is internal (`smpp:<system_id>`).
    callback_url: m.callback_format === 'smpp' ? null : m.callback_url,
    submitted_via: m.submitted_via ?? null,
    template_id: m.template_id,
    template_version: m.template_version,
    schedule_at: iso(m.schedule_at),
    expire_at: iso(m.expire_at),
    created_at: iso(m.created_at),
    updated_at: iso(m.updated_at),
    sent_at: iso(m.sent_at),
    completed_at: iso(m.final_at),
  };
}

export function eventView(e: { status: string; previous_status: string | null; source: string; detail: string | null; created_at: number }) {
  return { status: e.status, previous_status: e.previous_status, source: e.source, detail: e.detail, timestamp: new Date(e.created_at).toISOString() };
}

export function sendAttemptView(a: { provider: string; created_at: number; outcome: string; provider_message_id: string | null; error_code: string | null; provider_error_code: string | null; error_message: string | null; duration_ms: number }) {
  return {
    provider: a.provider, at: new Date(a.created_at).toISOString(), outcome: a.outcome, provider_message_id: a.provider_message_id,
    error_code: a.error_code, provider_error_code: a.provider_error_code, error_message: a.error_message, duration_ms: a.duration_ms,
  };
}
