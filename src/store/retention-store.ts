import { sql, type Kysely } from 'kysely';
import { idBoundary } from '../domain/ids.js';
import { FINAL_STATUSES } from '../domain/message-status.js';
import type { Database } from './schema.js';

/** Tables that hold one message's history, by message id; each has an index on `message_id`. */
const MESSAGE_HISTORY = ['message_events', 'send_attempts', 'message_parts', 'simulator_outbox', 'smpp_submissions'] as const;

export interface PurgedCounts {
  messages: number;
  batches: number;
  otpSessions: number;
  inbound: number;
}

/**
 * Deletes up to `limit` messages that reached a final status before `cutoff` (and were created
 * before it), with everything that hangs off them: events, send attempts, parts, callbacks and
 * their attempts, the simulator's copy, the SMPP submission, the Twilio-API record. Oldest first, by the primary key
 * (ids begin with the creation time). Then batches left without messages, finished OTP sessions
 * and inbound messages from before the cutoff, each at most `limit` too. One call, one small
 * transaction: the caller repeats it until it returns zeros.
 */
export async function purgeBefore(trx: Kysely<Database>, cutoff: number, limit: number): Promise<PurgedCounts> {
  const ids = (await trx.selectFrom('messages').select('id')
    .where('id', '<', idBoundary('msg', cutoff, 'first'))
    .where('status', 'in', FINAL_STATUSES as string[])
    .where('final_at', '<', cutoff)
    .orderBy('id').limit(limit).execute()).map((r) => r.id);
  if (ids.length > 0) {
    for (const table of MESSAGE_HISTORY) await trx.deleteFrom(table).where('message_id', 'in', ids).execute();
    const callbacks = trx.selectFrom('callbacks').select('id').where('message_id', 'in', ids);
    await trx.deleteFrom('callback_attempts').where('callback_id', 'in', callbacks).execute();
    await trx.deleteFrom('callbacks').where('message_id', 'in', ids).execute();
    await trx.deleteFrom('twilio_messages').where('message_id', 'in', ids).execute();
    await trx.deleteFrom('messages').where('id', 'in', ids).execute();
  }
  // A batch outlives its messages only until they are all gone; a draft or scheduled batch keeps its messages, so stays.
  const batches = await trx.deleteFrom('batches')
    .where('id', 'in', (eb) => eb.selectFrom('batches as b').select('b.id')
      .where('b.id', '<', idBoundary('bat', cutoff, 'first'))
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('messages as m').select(sql.lit(1).as('one')).whereRef('m.batch_id', '=', 'b.id'))))
      .orderBy('b.id').limit(limit))
    .executeTakeFirst();
  const otpSessions = await trx.deleteFrom('otp_sessions')
    .where('id', 'in', (eb) => eb.selectFrom('otp_sessions').select('id')
      .where('created_at', '<', cutoff).where('status', '!=', 'pending').orderBy('created_at').limit(limit))
    .executeTakeFirst();
  const inbound = await trx.deleteFrom('inbound_messages')
    .where('id', 'in', (eb) => eb.selectFrom('inbound_messages').select('id')
      .where('id', '<', idBoundary('inb', cutoff, 'first')).orderBy('id').limit(limit))
    .executeTakeFirst();
  return {
    messages: ids.length,
    batches: Number(batches.numDeletedRows),
    otpSessions: Number(otpSessions.numDeletedRows),
    inbound: Number(inbound.numDeletedRows),
  };
}

/**
 * Deletes up to `limit` audit rows written before `cutoff`, oldest first along audit_log_time. One call,
 * one small transaction, like purgeBefore: the caller repeats it until it returns 0.
 */
export async function purgeAuditBefore(trx: Kysely<Database>, cutoff: number, limit: number): Promise<number> {
  const result = await trx.deleteFrom('audit_log')
    .where('id', 'in', (eb) => eb.selectFrom('audit_log').select('id').where('created_at', '<', cutoff).orderBy('created_at').limit(limit))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
