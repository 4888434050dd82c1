import { sql, type Kysely } from 'kysely';
import type { Config } from './config.js';
import { backoffDelayMs } from './domain/backoff.js';
import type { MessageType } from './domain/encoding.js';
import type { MessageStatus, SmsType } from './domain/message-status.js';
import { SegmentBudget } from './domain/rate-limit.js';
import { open } from './domain/sealing.js';
import type { GatewayMetrics } from './metrics.js';
import type { SendOutcome, SmsProvider } from './providers/provider.js';
import type { ProviderRouter } from './providers/routing.js';
import type { DialectName } from './store/database.js';
import type { GroupCommit } from './store/group-commit.js';
import { claimDue, claimStale, moveStatus, recordTransitions, type MessageRow, type Transition } from './store/message-store.js';
import type { Database } from './store/schema.js';
import { PollingLoop } from './services/polling-loop.js';

const MAINTENANCE_INTERVAL_MS = 500;

type Result =
  | { message: MessageRow; outcome: SendOutcome; finishedAt: number }
  | { message: MessageRow; outcome: { kind: 'expired' | 'released' }; finishedAt: number };

export interface DispatcherDeps {
  config: Config;
  /** Opens `sealed_body` (OTP texts stored masked). */
  sealingKey: Buffer;
  dialect: DialectName;
  commits: GroupCommit;
  router: ProviderRouter;
  metrics: GatewayMetrics;
}

/**
 * The dispatch loop: claims due messages per provider (most urgent first), spends the
 * provider's segment budget, sends, and stores each outcome. Retries only what the provider
 * certainly did not take; a send whose outcome is unknown goes to recovery, never straight
 * back to the queue, so our own retry never sends a message twice.
 */
export class Dispatcher {
  private loops: PollingLoop[] = [];
  private readonly budgets = new Map<string, SegmentBudget>();

  constructor(private readonly deps: DispatcherDeps) {}

  start(): void {
    if (this.loops.length > 0) return;
    for (const provider of this.deps.router.all()) {
      // A round that waited for budget (-1) counts as work: go again at once.
      this.loops.push(new PollingLoop(`dispatch for ${provider.name}`, this.deps.config.dispatch.pollIntervalMs, async () => Math.abs(await this.dispatchOnce(provider))));
    }
    this.loops.push(new PollingLoop('dispatch maintenance', MAINTENANCE_INTERVAL_MS, async () => {
      await this.maintain();
      return 0;
    }));
    for (const loop of this.loops) loop.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.loops.map((loop) => loop.stop()));
    this.loops = [];
  }

  private budget(provider: string): SegmentBudget {
    let b = this.budgets.get(provider);
    if (!b) {
      b = new SegmentBudget(this.deps.config.rateLimits, Date.now());
      this.budgets.set(provider, b);
    }
    return b;
  }

  /** One claim-send-store round for a provider; returns how many messages it handled. */
  async dispatchOnce(provider: SmsProvider): Promise<number> {
    const { config, dialect, commits } = this.deps;
    const budget = this.budget(provider.name);
    const now = Date.now();
    const available = budget.available(now);
    if (available < 1) {
      await new Promise((r) => setTimeout(r, Math.max(1, budget.waitMs(1, now))));
      return -1;
    }
    const limit = Math.min(config.dispatch.batchSize, available);
    const leaseUntil = now + config.dispatch.leaseSeconds * 1000;
    // The claim alone is what makes a crash recoverable; its `sending` events are written with the outcomes,
    // so that messages handed back unsent (below) leave no trace.
    const claimed = await commits.run((trx) => claimDue(trx, dialect, provider.name, limit, now, leaseUntil));
    if (claimed.length === 0) return 0;
    const results = await this.sendAll(provider, claimed, budget, leaseUntil);
    await this.store(results, now);
    return claimed.length;
  }

  private async sendAll(provider: SmsProvider, messages: MessageRow[], budget: SegmentBudget, leaseUntil: number): Promise<Result[]> {
    const results: Result[] = [];
    const inFlight = new Set<Promise<void>>();
    const timeoutMs = this.deps.config.dispatch.providerTimeoutSeconds * 1000;
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i];
      const start = Date.now();
      if (message.expire_at !== null && message.expire_at <= start) {
        results.push({ message, outcome: { kind: 'expired' }, finishedAt: start });
        continue;
      }
      // Priority order is kept: later messages wait for budget behind earlier ones...
      const wait = budget.waitMs(message.segments, start);
      if (wait > 0 && start + wait + timeoutMs >= leaseUntil) {
        // ...but never past the claim's lease, or recovery could take a message we are about to send.
        for (const rest of messages.slice(i)) results.push({ message: rest, outcome: { kind: 'released' }, finishedAt: start });
        break;
      }
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      budget.take(message.segments, Date.now());
      if (inFlight.size >= provider.capabilities.maxConcurrency) await Promise.race(inFlight);
      const task = this.sendOne(provider, message).then((r) => {
        results.push(r);
        inFlight.delete(task);
      });
      inFlight.add(task);
    }
    await Promise.all(inFlight);
    return results;
  }

  private async sendOne(provider: SmsProvider, message: MessageRow): Promise<Result> {
    const { config, metrics } = this.deps;
    const started = Date.now();
    metrics.queueWaitSeconds.observe({ provider: provider.name }, Math.max(0, started - message.due_at) / 1000);
    let outcome: SendOutcome;
    try {
      outcome = await provider.send({
        id: message.id,
        to: message.to_number,
        from: message.from_number ?? undefined,
        body: message.sealed_body ? open(this.deps.sealingKey, message.sealed_body) : message.body,
        messageType: message.message_type as MessageType,
        encoding: message.encoding as 'GSM-7' | 'UCS-2' | 'binary',
        segments: message.segments,
        smsType: message.sms_type as SmsType,
        statusCallbackUrl: `${config.publicUrl}/api/webhooks/${provider.name}`,
        validitySeconds: message.expire_at === null ? undefined : Math.max(1, Math.floor((message.expire_at - started) / 1000)),
      }, AbortSignal.timeout(config.dispatch.providerTimeoutSeconds * 1000));
    } catch (err) {
      const e = err as Error;
      outcome = { kind: 'unknown', code: e.name === 'TimeoutError' ? 'PROVIDER_TIMEOUT' : 'PROVIDER_ERROR', message: e.message };
    }
    const finishedAt = Date.now();
    metrics.dispatchSeconds.observe({ provider: provider.name }, (finishedAt - started) / 1000);
    return { message, outcome, finishedAt };
  }

  /** Stores every outcome of a round in one transaction. */
  private async store(results: Result[], claimedAt: number): Promise<void> {
    const { config, commits, metrics } = this.deps;
    // Strictly after the claim, so each message's events sort in the order they happened.
    const now = Math.max(Date.now(), claimedAt + 1);
    await commits.run(async (trx) => {
      const transitions: Transition[] = [];
      const accepted: Array<{ message: MessageRow; outcome: { providerMessageId: string; cost?: number }; finishedAt: number }> = [];
      for (const { message, outcome, finishedAt } of results) {
        const guard = () => trx.updateTable('messages').where('id', '=', message.id).where('status', '=', 'sending');
        if (outcome.kind === 'released') {
          // Not tried: back in the queue as it was, attempt not counted.
          await guard().set((eb) => ({ status: 'queued', lease_until: null, attempts: eb('attempts', '-', 1), updated_at: now })).execute();
          continue;
        }
        transitions.push({ message, from: 'queued', to: 'sending', source: 'dispatcher', at: claimedAt });
        switch (outcome.kind) {
          case 'accepted':
            accepted.push({ message, outcome, finishedAt });
            break;
          case 'rejected':
            await this.finish(trx, message, 'failed', outcome.code, outcome.message, now);
            break;
          case 'retry': {
            if (message.attempts >= config.dispatch.maxAttempts) {
              await this.finish(trx, message, 'failed', outcome.code, `${outcome.message} (gave up after ${message.attempts} attempts)`, now);
              break;
            }
            const delay = outcome.retryAfterMs ?? backoffDelayMs(message.attempts, config.dispatch.retryBaseMs, config.dispatch.retryMaxMs);
            await guard().set({ status: 'queued', due_at: now + delay, lease_until: null, error_code: outcome.code, error_message: outcome.message, updated_at: now }).execute();
            transitions.push({ message, from: 'sending', to: 'queued', source: 'dispatcher', detail: `retry ${message.attempts + 1} in ${delay} ms: ${outcome.message}`, errorCode: outcome.code, at: now });
            metrics.sendRetries.inc({ provider: message.provider });
            break;
          }
          case 'unknown':
            // Left in `sending` with its lease run out: recovery asks the provider before anything else happens.
            await guard().set({ lease_until: now, error_code: outcome.code, error_message: outcome.message, updated_at: now }).execute();
            break;
          case 'expired':
            await this.finish(trx, message, 'expired', 'EXPIRED', 'expire_at passed before it could be sent', now);
            break;
        }
      }
      await this.markSent(trx, accepted, transitions, now);
      // One multi-row insert for the round's events and callbacks.
      await recordTransitions(trx, transitions);
    });
  }

  /**
   * Everything the provider took, in one UPDATE per few hundred messages (CASE per id) rather
   * than one statement each: at thousands of messages a second the statements were the cost.
   */
  private async markSent(
    trx: Kysely<Database>,
    accepted: Array<{ message: MessageRow; outcome: { providerMessageId: string; cost?: number }; finishedAt: number }>,
    transitions: Transition[],
    now: number,
  ): Promise<void> {
    for (let i = 0; i < accepted.length; i += 500) {
      const chunk = accepted.slice(i, i + 500);
      const byId = new Map(chunk.map((a) => [a.message.id, a]));
      // Explicit casts: PostgreSQL cannot infer the type of a parameter in a CASE branch.
      const providerId = sql.join(chunk.map((a) => sql`when ${a.message.id} then cast(${a.outcome.providerMessageId} as text)`), sql` `);
      const sentAt = sql.join(chunk.map((a) => sql`when ${a.message.id} then cast(${a.finishedAt} as bigint)`), sql` `);
      // Until the provider reports a price, the price table's is the best figure there is.
      const priced = chunk.filter((a) => a.outcome.cost !== undefined);
      const cost = priced.length === 0
        ? sql<number>`estimated_cost`
        : sql<number>`case id ${sql.join(priced.map((a) => sql`when ${a.message.id} then cast(${a.outcome.cost} as double precision)`), sql` `)} else estimated_cost end`;
      const updated = await trx.updateTable('messages')
        .set({
          status: 'sent', lease_until: null, updated_at: now, sealed_body: null,
          provider_message_id: sql<string>`case id ${providerId} end`,
          sent_at: sql<number>`case id ${sentAt} end`,
          cost,
        })
        .where('id', 'in', [...byId.keys()]).where('status', '=', 'sending')
        .returning('id').execute();
      for (const { id } of updated) {
        const a = byId.get(id)!;
        byId.delete(id);
        transitions.push({ message: a.message, from: 'sending', to: 'sent', source: 'dispatcher', at: now });
        this.deps.metrics.sent.inc({ provider: a.message.provider, sms_type: a.message.sms_type });
      }
      // What is left was overtaken by its delivery report: keep that status, fill in what it lacked.
      for (const { message, outcome, finishedAt } of byId.values()) {
        await trx.updateTable('messages').set({ provider_message_id: outcome.providerMessageId, sent_at: finishedAt, lease_until: null, sealed_body: null })
          .where('id', '=', message.id).where('provider_message_id', 'is', null).execute();
        this.deps.metrics.sent.inc({ provider: message.provider, sms_type: message.sms_type });
      }
    }
  }

  private async finish(trx: Kysely<Database>, message: MessageRow, to: MessageStatus, code: string, text: string, now: number): Promise<void> {
    await moveStatus(trx, { ids: [message.id], from: ['sending'] }, to, 'dispatcher', now, { error_code: code, error_message: text, final_at: now, lease_until: null, sealed_body: null }, text);
    this.deps.metrics.failed.inc({ provider: message.provider, sms_type: message.sms_type, status: to });
  }

  /** Scheduled messages come due, unsent ones expire, and dead sends are recovered. */
  async maintain(): Promise<void> {
    const now = Date.now();
    await this.deps.commits.run(async (trx) => {
      await moveStatus(trx, { from: ['scheduled'], dueBefore: now }, 'queued', 'scheduler', now);
      await moveStatus(trx, { from: ['scheduled', 'queued'], expiredBefore: now }, 'expired', 'scheduler', now,
        { final_at: now, error_code: 'EXPIRED', error_message: 'expire_at passed before it could be sent', sealed_body: null });
    });
    await this.recover(now);
  }

  /**
   * A message still `sending` after its lease: the worker died mid-send, or never heard back.
   * A provider that can look the message up by our id decides: found means sent, not found
   * means it is safe to queue again. Where nobody can tell, the message fails as
   * OUTCOME_UNKNOWN rather than risk a second copy on the recipient's phone.
   */
  async recover(now = Date.now()): Promise<number> {
    const { config, commits, dialect, router } = this.deps;
    const stale = await commits.run((trx) => claimStale(trx, dialect, 500, now, now + config.dispatch.leaseSeconds * 1000));
    if (stale.length === 0) return 0;
    const verdicts: Array<{ message: MessageRow; found: { providerMessageId: string } | null | 'unknown' }> = [];
    for (const message of stale) {
      const provider = router.get(message.provider);
      if (!provider?.lookup) {
        verdicts.push({ message, found: 'unknown' });
        continue;
      }
      try {
        verdicts.push({ message, found: await provider.lookup({ messageId: message.id, to: message.to_number, attemptedAt: message.updated_at }, AbortSignal.timeout(config.dispatch.providerTimeoutSeconds * 1000)) });
      } catch {
        // The provider can't answer now: leave the claim's fresh lease to run out and ask again later.
      }
    }
    const at = Date.now();
    await commits.run(async (trx) => {
      // A crash between claim and outcome left no `sending` event (it is written with the outcome): add it,
      // stamped with the claim time, which the claim left in updated_at.
      const ids = verdicts.map((v) => v.message.id);
      const latest = new Map<string, string>();
      if (ids.length > 0) {
        const events = await trx.selectFrom('message_events').select(['message_id', 'status']).where('message_id', 'in', ids)
          .orderBy('created_at', 'desc').orderBy('id', 'desc').execute();
        for (const e of events) if (!latest.has(e.message_id)) latest.set(e.message_id, e.status);
      }
      await recordTransitions(trx, verdicts.filter((v) => latest.get(v.message.id) !== 'sending').map(({ message }) => ({
        message, from: 'queued', to: 'sending', source: 'dispatcher', detail: 'claimed before an interruption', at: Math.min(message.updated_at, at - 1),
      })));
      for (const { message, found } of verdicts) {
        if (found === 'unknown') {
          await moveStatus(trx, { ids: [message.id], from: ['sending'] }, 'failed', 'recovery', at,
            { error_code: 'OUTCOME_UNKNOWN', error_message: 'the send was interrupted and the provider cannot say whether it took the message; not resent to avoid a duplicate', final_at: at, lease_until: null, sealed_body: null },
            'interrupted send, outcome unknown');
        } else if (found) {
          await moveStatus(trx, { ids: [message.id], from: ['sending'] }, 'sent', 'recovery', at,
            { provider_message_id: found.providerMessageId, sent_at: at, lease_until: null, error_code: null, error_message: null, sealed_body: null }, 'provider confirms it took the message');
        } else {
          await moveStatus(trx, { ids: [message.id], from: ['sending'] }, 'queued', 'recovery', at,
            { due_at: at, lease_until: null }, 'provider never received it: queued again');
        }
      }
    });
    return verdicts.length;
  }
}
