import type { Kysely } from 'kysely';
import type { Config } from './config.js';
import type { CircuitBreaker } from './domain/circuit-breaker.js';
import type { MessageType } from './domain/encoding.js';
import type { MessageStatus, SmsType } from './domain/message-status.js';
import type { ProviderBudget } from './domain/rate-limit.js';
import type { FieldCipher } from './domain/field-cipher.js';
import { idBoundary } from './domain/ids.js';
import { decideSendOutcome } from './domain/send-decision.js';
import type { GatewayMetrics } from './metrics.js';
import { callDeadline } from './providers/call-deadline.js';
import type { SendOutcome, SmsProvider } from './providers/provider.js';
import type { RecentOutcomes } from './providers/recent-outcomes.js';
import type { ProviderRouter } from './providers/routing/provider-router.js';
import type { StatusService } from './services/status-service.js';
import type { WakeUps } from './services/wake-ups.js';
import {
  claimEvent, claimedAtOf, leaveForRecovery, markSent, moveToProvider, queuedWithAlternatives, recordParts, recordSendAttempts, releaseUnsent, requeue, unrecordedClaims,
  type AcceptedSend,
} from './store/dispatch-store.js';
import type { DialectName } from './store/database.js';
import type { GroupCommit } from './store/group-commit.js';
import { claimDue, claimStale, moveStatus, recordTransitions, routeOf, type ClaimedMessage, type MessageRow, type MovedMessage, type Transition } from './store/message-store.js';
import type { Database, MessagesTable } from './store/schema.js';
import { PollingLoop } from './services/polling-loop.js';

const MAINTENANCE_INTERVAL_MS = 500;
/** Messages the scheduler moves per transaction (due, or expired), each move a few tens of µs. */
export const SCHEDULER_CHUNK = 500;
/**
 * Providers asked at once about stale sends. One at a time, 500 stale sends to a provider whose lookup takes
 * 200 ms held the maintenance loop (the scheduler with it) for 100 s; a few at a time stays well inside
 * the providers' API rate limits.
 */
export const RECOVERY_LOOKUPS_AT_ONCE = 8;

type Result =
  | { message: ClaimedMessage; outcome: SendOutcome; startedAt: number; finishedAt: number }
  | { message: ClaimedMessage; outcome: { kind: 'expired' | 'released' }; startedAt: number; finishedAt: number };

export interface DispatcherDeps {
  config: Config;
  /** Opens stored texts: `body`, or `sealed_body` for OTP texts stored masked. */
  cipher: FieldCipher;
  dialect: DialectName;
  commits: GroupCommit;
  router: ProviderRouter;
  metrics: GatewayMetrics;
  /** Applies delivery reports that arrived before the provider's answer to the send was stored. */
  status: StatusService;
  wakeUps: WakeUps;
}

/**
 * The dispatch loop: claims due messages per provider (most urgent first), spends the
 * provider's segment budget, sends, and stores each outcome as `decideSendOutcome` says.
 * Only what a provider certainly did not take goes elsewhere or again; a send whose outcome is
 * unknown goes to recovery, never to another provider, so our own retry or failover never
 * sends a message twice.
 */
export class Dispatcher {
  private loops: PollingLoop[] = [];
  private unsubscribe: (() => void) | undefined;
  /** Set by `stop`: rounds in progress send nothing more and hand back what they have not started. */
  private stopping = false;
  /** Each round in progress, woken from its budget wait by `stop` (one per round, so nothing accumulates). */
  private readonly roundsWaiting = new Set<() => void>();

  constructor(private readonly deps: DispatcherDeps) {}

  start(): void {
    if (this.loops.length > 0) return;
    this.stopping = false;
    for (const provider of this.deps.router.all()) {
      // A round that waited for budget (-1) counts as work: go again at once.
      this.loops.push(new PollingLoop(`dispatch for ${provider.name}`, this.deps.config.dispatch.pollIntervalMs, async () => Math.abs(await this.dispatchOnce(provider))));
    }
    this.loops.push(new PollingLoop('dispatch maintenance', MAINTENANCE_INTERVAL_MS, async () => {
      await this.maintain();
      return 0;
    }));
    for (const loop of this.loops) loop.start();
    // Dispatch loops only (the last is maintenance): a wake-up means messages due now.
    const dispatchLoops = this.loops.slice(0, -1);
    this.unsubscribe = this.deps.wakeUps.subscribe(() => {
      for (const loop of dispatchLoops) loop.nudge();
    });
  }

  /**
   * Stops claiming; sends already with the provider finish and their outcomes are stored, and
   * claimed messages not yet sent (waiting for budget or a free connection) are handed back to the
   * queue at once, for another worker or the next start. The caller bounds the wait (SHUTDOWN_TIMEOUT):
   * what is still in flight then is left to lease recovery, as after a crash.
   */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.stopping = true;
    for (const wake of this.roundsWaiting) wake();
    await Promise.all(this.loops.map((loop) => loop.stop()));
    this.loops = [];
  }

  /** One claim-send-store round for a provider; returns how many messages it handled. */
  async dispatchOnce(provider: SmsProvider): Promise<number> {
    const { config, dialect, commits, router } = this.deps;
    if (this.stopping) return 0;
    const budget = router.budget(provider.name);
    const breaker = router.breaker(provider.name);
    const now = Date.now();
    const allowance = breaker.allowance(now);
    if (allowance === 0) return this.routeAround(provider.name, now);
    const available = budget.available(now);
    if (available < 1) {
      await new Promise((r) => setTimeout(r, Math.max(1, budget.waitMs(1, now))));
      return -1;
    }
    // Up to a second's budget per round: sendAll paces the sends within it (never past the lease).
    const limit = Math.min(config.dispatch.batchSize, allowance, Math.max(available, Math.ceil(router.budgetPerSecond(provider.name) ?? 1)));
    const leaseUntil = now + config.dispatch.leaseSeconds * 1000;
    if (this.stopping) return 0;
    // The claim alone is what makes a crash recoverable; its `sending` events are written with the outcomes,
    // so that messages handed back unsent (below) leave no trace.
    const claimed = await commits.run((trx) => claimDue(trx, dialect, provider.name, limit, now, leaseUntil));
    if (claimed.length === 0) return 0;
    if (breaker.state(now) === 'half_open') breaker.probeStarted(now);
    const results = await this.sendAll(provider, claimed, budget, leaseUntil);
    await this.store(provider.name, results, now);
    return claimed.length;
  }

  /**
   * The provider's circuit is open: its queued messages that have another provider on their
   * route move there now, rather than wait out the cool-down.
   */
  private async routeAround(provider: string, now: number): Promise<number> {
    const { commits, router, metrics } = this.deps;
    const unavailable = router.unavailable(now);
    // Nowhere to go (one provider, or every other one down too): nothing to look for, every poll of the outage.
    if (!router.all().some((p) => p.name !== provider && !unavailable.has(p.name))) return 0;
    return commits.run(async (trx) => {
      let moved = 0;
      for (const message of await queuedWithAlternatives(trx, provider, this.deps.config.dispatch.batchSize, now)) {
        const to = routeOf(message).find((p) => p !== provider && !unavailable.has(p) && router.get(p) !== undefined);
        if (to && await moveToProvider(trx, message.id, provider, to, now)) {
          moved++;
          commits.afterCommit(trx, () => metrics.failovers.inc({ from: provider, to }));
        }
      }
      return moved;
    });
  }

  private async sendAll(provider: SmsProvider, messages: ClaimedMessage[], budget: ProviderBudget, leaseUntil: number): Promise<Result[]> {
    const results: Result[] = [];
    const inFlight = new Set<Promise<void>>();
    // The last moment a send may start: one started later could outlast the claim's lease.
    const startBy = leaseUntil - this.deps.config.dispatch.providerTimeoutSeconds * 1000;
    let wake!: () => void;
    const stopped = new Promise<false>((resolve) => { wake = () => resolve(false); });
    this.roundsWaiting.add(wake);
    try {
      for (let i = 0; i < messages.length; i++) {
        const message = messages[i];
        const start = Date.now();
        if (message.expire_at !== null && message.expire_at <= start) {
          results.push({ message, outcome: { kind: 'expired' }, startedAt: start, finishedAt: start });
          continue;
        }
        // Priority order is kept: later messages wait for budget behind earlier ones...
        const acquired = !this.stopping && await Promise.race([budget.acquire(message.segments, startBy), stopped]);
        if (acquired && inFlight.size >= provider.capabilities.maxConcurrency) await Promise.race(inFlight);
        // ...but never past the claim's lease, or recovery could take a message we are about to send (the budget
        // checks it only when it has to wait; waiting for a free connection can take long too); and a stopping
        // worker starts no new send.
        if (!acquired || this.stopping || Date.now() >= startBy) {
          for (const rest of messages.slice(i)) results.push({ message: rest, outcome: { kind: 'released' }, startedAt: start, finishedAt: start });
          break;
        }
        const task = this.sendOne(provider, message).then((r) => {
          results.push(r);
          inFlight.delete(task);
          // A 429 means our budget is above the account's real rate: pause what is still to go.
          if (r.outcome.kind === 'retry' && r.outcome.code === 'PROVIDER_THROTTLED') budget.throttled(r.outcome.retryAfterMs ?? 1000, Date.now());
        });
        inFlight.add(task);
      }
    } finally {
      this.roundsWaiting.delete(wake);
    }
    await Promise.all(inFlight);
    return results;
  }

  private async sendOne(provider: SmsProvider, message: ClaimedMessage): Promise<Result> {
    const { config, metrics } = this.deps;
    const started = Date.now();
    metrics.queueWaitSeconds.observe({ provider: provider.name }, Math.max(0, started - message.due_at) / 1000);
    let outcome: SendOutcome;
    const deadline = callDeadline(config.dispatch.providerTimeoutSeconds * 1000);
    try {
      outcome = await provider.send({
        id: message.id,
        to: message.to_number,
        from: message.from_number ?? undefined,
        body: this.deps.cipher.open(message.sealed_body ?? message.body),
        messageType: message.message_type as MessageType,
        encoding: message.encoding as 'GSM-7' | 'UCS-2' | 'binary',
        segments: message.segments,
        smsType: message.sms_type as SmsType,
        statusCallbackUrl: `${config.publicUrl}/api/webhooks/${provider.name}`,
        validitySeconds: message.expire_at === null ? undefined : Math.max(1, Math.floor((message.expire_at - started) / 1000)),
      }, deadline.signal);
    } catch (err) {
      const e = err as Error;
      outcome = { kind: 'unknown', code: e.name === 'TimeoutError' ? 'PROVIDER_TIMEOUT' : 'PROVIDER_ERROR', message: e.message };
    } finally {
      deadline.clear();
    }
    const finishedAt = Date.now();
    metrics.dispatchSeconds.observe({ provider: provider.name }, (finishedAt - started) / 1000);
    // Here rather than where the outcome is stored: a store that runs again (its group failed) would count it twice.
    this.observeHealth(this.deps.router.breaker(provider.name), this.deps.router.recent(provider.name), outcome, finishedAt - started, finishedAt);
    return { message, outcome, startedAt: started, finishedAt };
  }

  /** Stores every outcome of a round in one transaction. */
  private async store(providerName: string, results: Result[], claimedAt: number): Promise<void> {
    const { commits, metrics, router } = this.deps;
    // Strictly after the claim, so each message's events sort in the order they happened.
    const now = Math.max(Date.now(), claimedAt + 1);
    const unavailable = router.unavailable(now);
    await commits.run(async (trx) => {
      const transitions: Transition[] = [];
      const accepted: AcceptedSend[] = [];
      const attempts: Parameters<typeof recordSendAttempts>[1] = [];
      // The claim's event, written with the outcome, and only where the outcome was stored: a round that
      // outlived its lease finds its messages decided by recovery, and one overtaken by a delivery report
      // finds them moved on by it; each wrote that event itself.
      const claimed = (message: ClaimedMessage): Transition => claimEvent(message, claimedAt);
      await releaseUnsent(trx, results.filter((r) => r.outcome.kind === 'released').map((r) => r.message), now);
      for (const result of results) {
        const { message, outcome } = result;
        if (outcome.kind === 'released') continue;
        if (outcome.kind === 'expired') {
          await this.finish(trx, message, 'expired', 'EXPIRED', 'expire_at passed before it could be sent', now, claimed(message));
          continue;
        }
        await this.storeAttempt(trx, providerName, result as Result & { outcome: SendOutcome }, { transitions, accepted, attempts, claimed }, unavailable, now);
      }
      const { moved, stored } = await markSent(trx, accepted, claimedAt, now);
      for (const a of accepted) {
        // Not a send recovery has already handled (its lease ran out before this round was stored).
        if (!stored.has(a.message.id)) continue;
        // Only where this round moved it: a delivery report that moved it on first wrote the claim's event.
        if (moved.has(a.message.id)) transitions.push(claimed(a.message), { message: a.message, from: 'sending', to: 'sent', source: 'dispatcher', at: now });
        commits.afterCommit(trx, () => metrics.sent.inc({ provider: a.message.provider, sms_type: a.message.sms_type }));
      }
      // A send markSent moved to `sent` is its message's accepted attempt (findSendAttempts): no row for it.
      await recordSendAttempts(trx, attempts.filter((a) => a.outcome !== 'accepted' || !moved.has(a.message_id)));
      // One multi-row insert for the round's events and callbacks.
      await recordTransitions(trx, transitions);
      // Reports that came before these answers were stored can apply now that the provider's ids are known.
      // By every part's id too: a provider that reports parts one by one names each part's own id.
      await this.deps.status.applyEarlyReports(trx, providerName, [...new Set(accepted.flatMap((a) => [a.providerMessageId, ...(a.partIds ?? [])]))]);
    });
  }

  /** What one tried send does: its attempt (a row, or the message itself once markSent moves it), the provider's health, and the message's next step. */
  private async storeAttempt(
    trx: Kysely<Database>, providerName: string, { message, outcome, startedAt, finishedAt }: { message: ClaimedMessage; outcome: SendOutcome; startedAt: number; finishedAt: number },
    round: { transitions: Transition[]; accepted: AcceptedSend[]; attempts: Parameters<typeof recordSendAttempts>[1]; claimed: (message: ClaimedMessage) => Transition },
    unavailable: Set<string>, now: number,
  ): Promise<void> {
    const { config, metrics } = this.deps;
    const { transitions, accepted, attempts, claimed } = round;
    attempts.push({
      message_id: message.id, provider: providerName, outcome: outcome.kind, created_at: finishedAt, duration_ms: finishedAt - startedAt,
      provider_message_id: outcome.kind === 'accepted' ? outcome.providerMessageId : null,
      error_code: outcome.kind === 'accepted' ? null : outcome.code,
      provider_error_code: outcome.kind === 'accepted' ? null : outcome.providerErrorCode ?? null,
      error_message: outcome.kind === 'accepted' ? null : outcome.message,
    });
    // Counters count what is stored, once (GroupCommit.afterCommit): a failed group runs this again.
    this.deps.commits.afterCommit(trx, () => metrics.sendAttempts.inc({ provider: providerName, outcome: outcome.kind }));

    const decision = decideSendOutcome({
      outcome, provider: providerName, route: routeOf(message), attempts: message.attempts, maxAttempts: config.dispatch.maxAttempts,
      retryBaseMs: config.dispatch.retryBaseMs, retryMaxMs: config.dispatch.retryMaxMs, now, unavailable,
    });
    switch (decision.action) {
      case 'sent':
        accepted.push({ message, providerMessageId: decision.providerMessageId, partIds: decision.partIds, cost: decision.cost, finishedAt, durationMs: finishedAt - startedAt });
        if (decision.partIds && decision.partIds.length > 1) await recordParts(trx, providerName, message.id, decision.partIds, now);
        break;
      case 'fail':
        await this.finish(trx, message, 'failed', decision.code, decision.message, now, claimed(message));
        break;
      case 'failover':
      case 'retry': {
        const dueAt = decision.action === 'retry' ? decision.dueAt : now;
        // Recovery had it first (this round outlived its lease): it decided, and counted, already.
        if (!await requeue(trx, message, { provider: decision.to, dueAt, code: decision.code, message: decision.message }, now)) break;
        const detail = decision.action === 'failover'
          ? `failover to ${decision.to}: ${decision.message}`
          : `retry ${message.attempts + 1} on ${decision.to} in ${dueAt - now} ms: ${decision.message}`;
        transitions.push(claimed(message), { message, from: 'sending', to: 'queued', source: 'dispatcher', detail, errorCode: decision.code, at: now });
        if (decision.action === 'failover') this.deps.commits.afterCommit(trx, () => metrics.failovers.inc({ from: providerName, to: decision.to }));
        else this.deps.commits.afterCommit(trx, () => metrics.sendRetries.inc({ provider: providerName }));
        break;
      }
      case 'unknown':
        if (await leaveForRecovery(trx, message, decision.code, decision.message, now)) transitions.push(claimed(message));
        break;
    }
  }

  /**
   * A provider that answered, even with a rejection, is up; one that surely did not take a
   * message (refused, 5xx) counts toward opening its circuit. Throttling is the budget's concern,
   * and an unknown outcome proves nothing.
   */
  private observeHealth(breaker: CircuitBreaker, recent: RecentOutcomes, outcome: SendOutcome, durationMs: number, now: number): void {
    recent.record(outcome.kind === 'accepted', durationMs);
    if (outcome.kind === 'accepted' || outcome.kind === 'rejected') breaker.success(now);
    else if (outcome.kind === 'retry' && outcome.code !== 'PROVIDER_THROTTLED') breaker.failure(now);
  }

  /**
   * Ends a claimed message, its claim's `sending` event written just before the outcome's. Nothing when the
   * message was no longer this round's to end (recovery had it first, or it was claimed again since).
   */
  private async finish(trx: Kysely<Database>, message: ClaimedMessage, to: 'failed' | 'expired', code: string, text: string, now: number, claim: Transition): Promise<void> {
    const moved = await moveStatus(trx, { ids: [message.id], from: ['sending'], claims: message.claims }, to, 'dispatcher', now, { error_code: code, error_message: text, final_at: now, lease_until: null, sealed_body: null }, text, () => claim);
    this.countFinal(trx, moved, to);
  }

  /** Counts the messages a move ended (failed, expired), once it is committed. */
  private countFinal(trx: Kysely<Database>, moved: MovedMessage[], status: 'failed' | 'expired'): void {
    const { commits, metrics } = this.deps;
    for (const m of moved) commits.afterCommit(trx, () => metrics.failed.inc({ provider: m.provider, sms_type: m.sms_type, status }));
  }

  /**
   * Scheduled messages come due, unsent ones expire, and dead sends are recovered. The moves go
   * SCHEDULER_CHUNK at a time, a transaction each: campaigns scheduled for the same moment (100,000
   * messages) moved in one held the write lock, and every send waiting for it, for 1.7 s
   * (bench/scheduled-backlog.ts). Usually everything fits in the first transaction, as before.
   */
  async maintain(): Promise<void> {
    const now = Date.now();
    const expiry = { final_at: now, error_code: 'EXPIRED', error_message: 'expire_at passed before it could be sent', sealed_body: null };
    let more = { due: true, scheduled: true, queued: true };
    for (let first = true; (more.due || more.scheduled || more.queued) && !this.stopping; first = false) {
      const left = more;
      more = await this.deps.commits.run(async (trx) => {
        const full = { due: false, scheduled: false, queued: false };
        if (left.due) full.due = (await moveStatus(trx, { from: ['scheduled'], dueBefore: now, limit: SCHEDULER_CHUNK }, 'queued', 'scheduler', now)).length === SCHEDULER_CHUNK;
        for (const from of ['scheduled', 'queued'] as const) {
          if (!left[from]) continue;
          const expired = await moveStatus(trx, { from: [from], expiredBefore: now, limit: SCHEDULER_CHUNK }, 'expired', 'scheduler', now, expiry);
          this.countFinal(trx, expired, 'expired');
          full[from] = expired.length === SCHEDULER_CHUNK;
        }
        // A report whose message never showed up (not ours, or its send failed) is kept a day, not forever. By id, which
        // begins with the time: `created_at` has no index, and a shared provider account's reports of others' messages
        // fill the table with a day of them, read whole at every look. At most a chunk a look, as the moves above.
        if (first) {
          await trx.deleteFrom('early_reports').where('id', 'in', (eb) => eb.selectFrom('early_reports').select('id')
            .where('id', '<', idBoundary('erp', now - 86_400_000, 'first')).orderBy('id').limit(SCHEDULER_CHUNK)).execute();
        }
        return full;
      });
    }
    await this.recover(now);
  }

  /**
   * A message still `sending` after its lease: the worker died mid-send, or never heard back.
   * A provider that can look the message up by our id decides: found means sent, not found
   * means it is safe to queue again. Where nobody can tell, the message fails as
   * OUTCOME_UNKNOWN rather than risk a second copy on the recipient's phone.
   */
  async recover(now = Date.now()): Promise<number> {
    const { config, commits, dialect, metrics, router } = this.deps;
    const stale = await commits.run((trx) => claimStale(trx, dialect, 500, now, now + config.dispatch.leaseSeconds * 1000));
    if (stale.length === 0) return 0;
    // In the order claimed; a message whose provider could not answer now has none.
    const answers: Array<{ message: MessageRow; found: { providerMessageId: string } | null | 'unknown' } | undefined> = new Array(stale.length);
    let next = 0;
    const asking = async () => {
      for (let i = next++; i < stale.length; i = next++) {
        const message = stale[i];
        const provider = router.get(message.provider);
        if (!provider?.lookup) {
          answers[i] = { message, found: 'unknown' };
          continue;
        }
        const deadline = callDeadline(config.dispatch.providerTimeoutSeconds * 1000);
        try {
          answers[i] = { message, found: await provider.lookup({ messageId: message.id, to: message.to_number, attemptedAt: message.updated_at }, deadline.signal) };
        } catch {
          // The provider can't answer now: leave the claim's fresh lease to run out and ask again later.
        } finally {
          deadline.clear();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(RECOVERY_LOOKUPS_AT_ONCE, stale.length) }, asking));
    const verdicts = answers.filter((a) => a !== undefined);
    const at = Date.now();
    await commits.run(async (trx) => {
      // A crash between claim and outcome left no `sending` event (it is written with the outcome): recovery writes
      // it just before its own change. A round stored meanwhile moved the message and wrote its own; one that left
      // the send to recovery wrote it too, and kept the message `sending`.
      const unrecordedClaim = async (message: MessageRow): Promise<Transition | undefined> =>
        ((await unrecordedClaims(trx, [message.id])).has(message.id) ? claimEvent(message, claimedAtOf(message, at - 1), 'claimed before an interruption') : undefined);
      /** Moves a stale claim on; false when a round stored meanwhile had moved it already, or it was claimed again since. */
      const move = async (message: MessageRow, to: MessageStatus, extra: Partial<MessagesTable>, detail: string) =>
        (await moveStatus(trx, { ids: [message.id], from: ['sending'], claims: message.claims }, to, 'recovery', at, extra, detail, () => unrecordedClaim(message))).length > 0;
      for (const { message, found } of verdicts) {
        if (found === 'unknown') {
          if (await move(message, 'failed',
            { error_code: 'OUTCOME_UNKNOWN', error_message: 'the send was interrupted and the provider cannot say whether it took the message; not resent to avoid a duplicate', final_at: at, lease_until: null, sealed_body: null },
            'interrupted send, outcome unknown')) this.countFinal(trx, [message], 'failed');
        } else if (found) {
          if (await move(message, 'sent',
            { provider_message_id: found.providerMessageId, sent_at: at, lease_until: null, error_code: null, error_message: null, sealed_body: null }, 'provider confirms it took the message')) {
            commits.afterCommit(trx, () => metrics.sent.inc({ provider: message.provider, sms_type: message.sms_type }));
          }
        } else {
          // Certainly not taken: the same decision as any surely-not-taken send (next provider, backoff, attempt limit).
          const decision = decideSendOutcome({
            outcome: { kind: 'retry', code: 'PROVIDER_NOT_RECEIVED', message: 'the provider never received it' },
            provider: message.provider, route: routeOf(message), attempts: message.attempts, maxAttempts: config.dispatch.maxAttempts,
            retryBaseMs: config.dispatch.retryBaseMs, retryMaxMs: config.dispatch.retryMaxMs, now: at, unavailable: router.unavailable(at),
          });
          if (decision.action === 'failover' || decision.action === 'retry') {
            // Due at once: an interruption, not the provider, stopped this send.
            const requeued = await move(message, 'queued', { provider: decision.to, due_at: at, lease_until: null }, `provider never received it: queued again for ${decision.to}`);
            // Counted as the dispatcher counts its own: a failover, or a retry of the same provider.
            if (requeued && decision.action === 'failover') commits.afterCommit(trx, () => metrics.failovers.inc({ from: message.provider, to: decision.to }));
            else if (requeued) commits.afterCommit(trx, () => metrics.sendRetries.inc({ provider: message.provider }));
          } else if (await move(message, 'failed',
            { error_code: 'PROVIDER_NOT_RECEIVED', error_message: `the provider never received it and the ${config.dispatch.maxAttempts} attempts are spent`, final_at: at, lease_until: null, sealed_body: null },
            'provider never received it; attempts spent')) {
            this.countFinal(trx, [message], 'failed');
          }
        }
      }
    });
    return verdicts.length;
  }
}
