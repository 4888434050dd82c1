import { sql, type Kysely } from 'kysely';
import type { Config } from '../config.js';
import { backoffDelayMs } from '../domain/backoff.js';
import type { FieldCipher } from '../domain/field-cipher.js';
import { newId } from '../domain/ids.js';
import { parseMetadata } from '../store/message-store.js';
import { signCallback } from '../domain/signature.js';
import { twilioStatusCallback } from '../twilio-compat/status-callback.js';
import type { GatewayMetrics } from '../metrics.js';
import type { DialectName } from '../store/database.js';
import type { GroupCommit } from '../store/group-commit.js';
import type { Database } from '../store/schema.js';
import { pinnedPost } from './pinned-request.js';
import { PollingLoop } from './polling-loop.js';

const CONCURRENCY = 16;

type Attempt = { ok: true; statusCode: number } | { ok: false; statusCode: number | null; error: string; refused?: boolean };

/**
 * Delivers status callbacks from the durable `callbacks` table: signed, with a timeout, retried
 * with backoff `WEBHOOK_RETRY_ATTEMPTS` times, every attempt recorded. A claim holds a lease,
 * so after a crash an undelivered callback is picked up again.
 */
export class CallbackService {
  private readonly loop = new PollingLoop('callback delivery', 200, () => this.deliverDue());

  constructor(
    private readonly config: Config,
    private readonly db: Kysely<Database>,
    private readonly dialect: DialectName,
    private readonly commits: GroupCommit,
    private readonly metrics: GatewayMetrics,
    private readonly cipher: FieldCipher,
  ) {}

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  async deliverDue(now = Date.now()): Promise<number> {
    const leaseMs = (this.config.webhooks.timeoutSeconds + 30) * 1000;
    const claimed = await this.commits.run(async (trx) => {
      // Along callbacks_due_http (migration 0022), whose conditions these literals are. Receipts for SMPP
      // submissions go out on the ESME's bind (src/smpp-server/receipt-delivery.ts).
      let due = trx.selectFrom('callbacks').select('id').where('status', '=', sql.lit('pending')).where('url', 'not like', sql.lit('smpp:%'))
        .where('next_attempt_at', '<=', now)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .orderBy('next_attempt_at').limit(100);
      if (this.dialect === 'postgres') due = due.forUpdate().skipLocked();
      return trx.updateTable('callbacks').set({ lease_until: now + leaseMs }).where('id', 'in', due).returningAll().execute();
    });
    // Callbacks of one message go out in the order its statuses changed.
    claimed.sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
    const byMessage = new Map<string, typeof claimed>();
    for (const c of claimed) byMessage.set(c.message_id, [...(byMessage.get(c.message_id) ?? []), c]);
    const queues = [...byMessage.values()];
    const workers = Array.from({ length: Math.min(CONCURRENCY, queues.length) }, async () => {
      for (let q = queues.shift(); q; q = queues.shift()) for (const c of q) await this.deliver(c);
    });
    await Promise.all(workers);
    return claimed.length;
  }

  private async deliver(callback: { id: string; message_id: string; url: string; payload: string; attempts: number }): Promise<void> {
    const started = Date.now();
    const result = await this.post(callback.url, await this.request(callback));
    const finished = Date.now();
    const attempt = callback.attempts + 1;
    const giveUp = !result.ok && (result.refused || attempt > this.config.webhooks.retryAttempts);
    const status = result.ok ? 'delivered' : giveUp ? (result.refused ? 'refused' : 'failed') : 'pending';
    const retryIn = backoffDelayMs(attempt, this.config.webhooks.retryDelaySeconds * 1000, 3_600_000);
    await this.commits.run(async (trx) => {
      await trx.insertInto('callback_attempts').values({
        id: newId('cba', finished), callback_id: callback.id, attempt, status_code: result.statusCode,
        error: result.ok ? null : result.error, duration_ms: finished - started, created_at: finished,
      }).execute();
      await trx.updateTable('callbacks').set({
        status, attempts: attempt, lease_until: null, updated_at: finished,
        last_error: result.ok ? null : result.error,
        next_attempt_at: status === 'pending' ? finished + retryIn : finished,
      }).where('id', '=', callback.id).execute();
    });
    this.metrics.callbacks.inc({ outcome: status === 'pending' ? 'retry' : status });
  }

  /**
   * What to post: the stored payload plus the message's metadata, which is kept sealed on its
   * batch and opened only to send; or, for a message sent through the Twilio-compatible API,
   * the change as Twilio's form fields signed the way Twilio signs them.
   */
  private async request(callback: { message_id: string; url: string; payload: string }): Promise<{ body: string; headers: Record<string, string> }> {
    const row = await this.db.selectFrom('messages').leftJoin('batches', 'batches.id', 'messages.batch_id')
      .select(['messages.metadata as own', 'batches.metadata as shared', 'messages.callback_format', 'messages.to_number', 'messages.from_number', 'messages.key_id'])
      .where('messages.id', '=', callback.message_id).executeTakeFirst();
    const payload = JSON.parse(callback.payload) as Record<string, unknown>;
    if (row?.callback_format === 'twilio') {
      const change = { status: String(payload.status), error_code: (payload.error_code as string | null) ?? null };
      return twilioStatusCallback(this.db, this.cipher, this.config.webhookSecret, callback.url, change, { id: callback.message_id, ...row });
    }
    if (!('metadata' in payload)) payload.metadata = parseMetadata(row?.own ?? row?.shared ?? null, this.cipher);
    const body = JSON.stringify(payload);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'sms-gateway-callbacks/1' };
    if (this.config.webhookSecret) headers['x-webhook-signature'] = signCallback(this.config.webhookSecret, body, Math.floor(Date.now() / 1000));
    return { body, headers };
  }

  private async post(url: string, request: { body: string; headers: Record<string, string> }): Promise<Attempt> {
    // Checked again at delivery (DNS may have changed since the URL was accepted), and the
    // connection goes to the address that was checked.
    return pinnedPost(new URL(url), {
      headers: request.headers, body: request.body, timeoutMs: this.config.webhooks.timeoutSeconds * 1000,
      allowPrivateNetworks: this.config.webhooks.allowPrivateNetworks,
    });
  }

  /** Every delivery attempt of a message's callbacks, oldest first: what an application debugging its endpoint needs. */
  async attemptsFor(messageId: string) {
    const rows = await this.db.selectFrom('callbacks').innerJoin('callback_attempts', 'callback_attempts.callback_id', 'callbacks.id')
      .select([
        'callbacks.id as callback_id', 'callbacks.url', 'callbacks.status', 'callbacks.payload', 'callback_attempts.attempt',
        'callback_attempts.status_code', 'callback_attempts.error', 'callback_attempts.duration_ms', 'callback_attempts.created_at',
      ])
      .where('callbacks.message_id', '=', messageId).orderBy('callback_attempts.created_at').orderBy('callback_attempts.attempt').execute();
    return rows.map(({ payload, created_at, ...r }) => ({
      ...r, event_status: (JSON.parse(payload) as { status: string }).status, attempted_at: new Date(created_at).toISOString(),
    }));
  }
}
