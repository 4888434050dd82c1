import type { Insertable } from 'kysely';
import type { StoredMessagesTable } from '../../src/store/schema.js';

/** A message row as stored, for tests that write `messages` directly: one GSM-7 segment to a US number on the simulator, queued, unless `fields` say otherwise. */
export function messageRow(id: string, at: number, fields: Partial<Insertable<StoredMessagesTable>> = {}): Insertable<StoredMessagesTable> {
  return {
    id, batch_id: 'bat_1', to_number: '+14155550100', body: 'x', message_type: 'text', sms_type: 'transactional', encoding: 'GSM-7', segments: 1,
    priority: 5, provider: 'simulator', status: 'queued', provider_message_id: null, estimated_cost: 0.01, cost: null,
    currency: 'USD', attempts: 0, error_code: null, due_at: at, created_at: at, updated_at: at, sent_at: null, lease_until: null, key_id: null,
    ...fields,
  };
}
