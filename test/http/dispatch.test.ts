import { afterEach, describe, expect, it } from 'vitest';
import { drain, eventsByNumber, startGateway, type TestGateway, US, US2 } from '../helpers/gateway.js';
import { onPostgres } from '../helpers/database.js';
import { get, post } from '../helpers/http.js';
import { sql, type Kysely } from 'kysely';
import type { LookupHint, SendOutcome, SmsProvider } from '../../src/providers/provider.js';
import type { Database } from '../../src/store/schema.js';
import { RECOVERY_LOOKUPS_AT_ONCE } from '../../src/worker.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

const numbers = (n: number, start = 1000) => Array.from({ length: n }, (_, i) => ({ number: `+1415555${String(start + i).padStart(4, '0')}` }));

/**
 * Holds each of a provider's sends and lookups, in the order they come, until the test answers it: with
 * what the provider itself answers, or with a given send outcome. The provider is called when the test
 * answers; with `taken`, a send reaches it at once and only its answer is held (held once it has it).
 * `nextSend`/`nextLookup` fail fast if `ended` (the round or recovery) ends before the call comes.
 */
function holdEachCall(provider: SmsProvider, { taken = false } = {}) {
  const { send, lookup } = provider;
  type Held = { answer: (outcome?: SendOutcome) => void };
  const queue = (): { put: (h: Held) => void; next: (ended: Promise<unknown>) => Promise<Held> } => {
    const arrived: Held[] = [];
    let wake = () => {};
    return {
      put: (h) => { arrived.push(h); wake(); },
      async next(ended) {
        const stop = ended.then(() => { throw new Error('ended before the call came'); });
        // Raced only while waiting: a call that came first leaves it unawaited.
        stop.catch(() => undefined);
        while (arrived.length === 0) await Promise.race([new Promise<void>((r) => { wake = r; }), stop]);
        return arrived.shift()!;
      },
    };
  };
  const sends = queue();
  const lookups = queue();
  const released: Array<() => void> = [];
  /** `respond` once, on the first answer: `restore` answers whatever is still held. */
  const once = (respond: (outcome?: SendOutcome) => unknown) => {
    let answered = false;
    const answer = (outcome?: SendOutcome) => { if (!answered) respond(outcome); answered = true; };
    released.push(answer);
    return { answer };
  };
  provider.send = (...args) => new Promise((resolve, reject) => {
    if (!taken) return sends.put(once((outcome) => (outcome ? resolve(outcome) : send.apply(provider, args).then(resolve, reject))));
    send.apply(provider, args).then((answer) => sends.put(once((outcome) => resolve(outcome ?? answer))), reject);
  });
  provider.lookup = (...args) => new Promise((resolve, reject) => {
    lookups.put(once(() => lookup!.apply(provider, args).then(resolve, reject)));
  });
  return {
    nextSend: sends.next,
    nextLookup: lookups.next,
    restore() {
      provider.send = send;
      provider.lookup = lookup;
      for (const answer of released) answer();
    },
  };
}

/** A message's stored events in number order (the events stream's order), as [status, source]. */
async function changesByNumber(id: string): Promise<string[][]> {
  return (await eventsByNumber(gw!.services, id)).map((e) => [e.status, e.source]);
}

const SENT_ONCE = /^sms_messages_sent_total\{provider="simulator",sms_type="transactional"\} 1$/m;

/** A recovery run as if the claim's lease had run out. */
const afterTheLease = () => Date.now() + gw!.services.config.dispatch.leaseSeconds * 1000;

type HeldCalls = ReturnType<typeof holdEachCall>;
type HeldRound = { round: Promise<number>; send: { answer: (outcome?: SendOutcome) => void } };

/**
 * Sends one message and holds the provider's answer to its dispatch round (the provider has the message)
 * while `meanwhile` runs (past the claim's millisecond, as anything after a lease would be); then the round
 * is answered, if `meanwhile` did not, and stored. `meanwhile` and the caller get the message's id.
 */
async function sendWithRoundHeld(env: Record<string, string>, meanwhile: (calls: HeldCalls, held: HeldRound, id: string) => Promise<void>) {
  gw = await startGateway(env);
  const id: string = (await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' })).body.messages[0].id;
  const simulator = gw.services.router.get('simulator')!;
  const calls = holdEachCall(simulator, { taken: true });
  try {
    const round = gw.services.dispatcher.dispatchOnce(simulator);
    const send = await calls.nextSend(round);
    await new Promise((r) => setTimeout(r, 5));
    await meanwhile(calls, { round, send }, id);
    send.answer();
    await round;
  } finally {
    calls.restore();
  }
  return id;
}

/**
 * Starts a gateway and sends one message, then leaves it as a worker's claim `claimedAgoMs` ago leaves it
 * (status sending, claim 1, its `sending` event not yet written), the lease running until `leaseUntil`
 * (30 s after the claim by default). Returns the gateway, the id and the claim's time.
 */
async function claimedMessage(claimedAgoMs: number, leaseUntil?: number): Promise<{ g: TestGateway; id: string; claimedAt: number }> {
  const g = gw = await startGateway({});
  const id: string = (await post(g.app, '/api/sms/send', { to: [{ number: US }], message: 'x' })).body.messages[0].id;
  // Still after the acceptance: the message's events stay in time order.
  await new Promise((r) => setTimeout(r, claimedAgoMs));
  const claimedAt = Date.now() - claimedAgoMs + 1;
  await g.services.store.db.updateTable('messages').set({ status: 'sending', claims: 1, attempts: 1, lease_until: leaseUntil ?? claimedAt + 30_000, updated_at: claimedAt })
    .where('id', '=', id).execute();
  return { g, id, claimedAt };
}

/**
 * PostgreSQL: holds the message's row in a transaction of its own (another process's round), until
 * `meanwhile` has started and is waiting for that row's lock; then `write` runs in it and it commits.
 * Fails if nothing came to wait within 5 s: the race the caller means to test did not happen.
 */
async function whileRowHeld<T>(g: TestGateway, id: string, write: (trx: Kysely<Database>) => Promise<void>, meanwhile: () => Promise<T>): Promise<T> {
  const { db } = g.services.store;
  let release = () => {};
  const held = new Promise<void>((r) => { release = r; });
  let taken = () => {};
  const rowTaken = new Promise<void>((r) => { taken = r; });
  const other = db.transaction().execute(async (trx) => {
    await trx.updateTable('messages').set({ lease_until: Date.now() }).where('id', '=', id).execute();
    taken();
    await held;
    await write(trx);
  });
  try {
    await Promise.race([rowTaken, other]);
    const waiting = meanwhile();
    waiting.catch(() => undefined);
    const deadline = Date.now() + 5000;
    const lockWaits = async () => Number((await sql<{ n: string }>`select count(*) as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`.execute(db)).rows[0].n);
    while (await lockWaits() === 0) {
      if (Date.now() > deadline) throw new Error('nothing waited for the held row');
      await new Promise((r) => setTimeout(r, 5));
    }
    release();
    await other;
    return await waiting;
  } finally {
    release();
  }
}

describe('dispatcher', () => {
  it('sends the most urgent first: an OTP overtakes a promotional backlog', async () => {
    gw = await startGateway({ DISPATCH_BATCH_SIZE: '10' });
    await post(gw.app, '/api/sms/send-batch', { recipients: numbers(50), message: 'sale', sms_type: 'promotional' });
    const otp = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'code 1234', sms_type: 'otp' });
    await gw.services.dispatcher.dispatchOnce(gw.services.router.get('simulator')!);
    const m = (await get(gw.app, `/api/sms/${otp.body.messages[0].id}`)).body;
    expect(m.status).toBe('sent');
    expect((await get(gw.app, '/api/sms?status=sent')).body.total).toBe(10);
  });

  it('spends the per-provider budget in segments and never drops what waits', async () => {
    gw = await startGateway({ SIMULATOR_MAX_PER_SECOND: '4', DISPATCH_BATCH_SIZE: '100' });
    // 3 messages of 2 segments each: 6 segments against a budget of 4 per second.
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }, { number: US2 }, { number: '+14155552673' }], message: 'a'.repeat(200) });
    expect(res.body.total_segments).toBe(6);
    const started = Date.now();
    const simulator = gw.services.router.get('simulator')!;
    await gw.services.dispatcher.dispatchOnce(simulator);
    // The budget allowed claiming 4 messages' worth, but the third had to wait for tokens to refill.
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect((await get(gw.app, '/api/sms?status=sent')).body.total).toBe(3);
  });

  it('hands unsent messages back rather than wait past the claim\'s lease', async () => {
    gw = await startGateway({ SIMULATOR_MAX_PER_SECOND: '2', PROVIDER_TIMEOUT: '1', DISPATCH_LEASE_SECONDS: '2' });
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }, { number: US2 }], message: 'b'.repeat(200) });
    expect(res.body.total_segments).toBe(4);
    await gw.services.dispatcher.dispatchOnce(gw.services.router.get('simulator')!);
    // Read through the service: the API's own limit is 2 calls a second here too.
    const [first, second] = res.body.messages.map((m: any) => m.id);
    const sent = await gw.services.messages.get(first);
    const waiting = await gw.services.messages.get(second);
    // First come, first served; the second needed another second's budget, and with a 1 s send
    // timeout that would outlive the 2 s lease.
    expect(sent.status).toBe('sent');
    expect(waiting).toMatchObject({ status: 'queued', attempts: 0 });
    expect(waiting.events.map((e) => e.status)).toEqual(['queued']);
    await new Promise((r) => setTimeout(r, 1100));
    await gw.services.dispatcher.dispatchOnce(gw.services.router.get('simulator')!);
    expect((await gw.services.messages.get(second)).status).toBe('sent');
  });

  it('hands back, rather than start late, a send whose wait for a free connection ran past the claim\'s lease', async () => {
    gw = await startGateway({ PROVIDER_TIMEOUT: '1', DISPATCH_LEASE_SECONDS: '3' });
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }, { number: US2 }], message: 'x' });
    const [first, second] = res.body.messages.map((m: any) => m.id);
    const simulator = gw.services.router.get('simulator')!;
    const { send, capabilities } = simulator;
    const settable = simulator as { capabilities: typeof capabilities };
    // One connection, held 2.2 s by the first send: the second would start past the lease less the timeout
    // (2 s after the claim). The first still ends sent: this stand-in ignores the 1 s timeout's abort signal.
    settable.capabilities = { ...capabilities, maxConcurrency: 1 };
    let sends = 0;
    simulator.send = async (...args) => {
      sends++;
      await new Promise((r) => setTimeout(r, 2200));
      return send.apply(simulator, args);
    };
    try {
      await gw.services.dispatcher.dispatchOnce(simulator);
    } finally {
      simulator.send = send;
      settable.capabilities = capabilities;
    }
    expect(sends).toBe(1);
    expect((await gw.services.messages.get(first)).status).toBe('sent');
    expect(await gw.services.messages.get(second)).toMatchObject({ status: 'queued', attempts: 0 });
  });

  it('retries transient provider errors with backoff and then gives up', async () => {
    gw = await startGateway({ SIMULATOR_TRANSIENT_ERROR_RATE: '1', SEND_MAX_ATTEMPTS: '3', SEND_RETRY_BASE_MS: '1', SEND_RETRY_MAX_MS: '5' });
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' });
    for (let i = 0; i < 10; i++) {
      await drain(gw.services);
      await new Promise((r) => setTimeout(r, 10));
    }
    const m = (await get(gw.app, `/api/sms/${res.body.messages[0].id}`)).body;
    expect(m).toMatchObject({ status: 'failed', attempts: 3, error_code: 'SIM_THROTTLED' });
    expect(m.events.map((e: any) => e.status)).toEqual(['queued', 'sending', 'queued', 'sending', 'queued', 'sending', 'failed']);
    expect((await get(gw.app, '/api/simulator/outbox')).body.total).toBe(0);
  });

  it('recovers a send interrupted before the provider took it by queueing it again', async () => {
    gw = await startGateway({ PROVIDER_TIMEOUT: '1', DISPATCH_LEASE_SECONDS: '2' });
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' });
    const id = res.body.messages[0].id;
    // Simulate a worker that claimed the message and died: status sending, lease already over.
    await gw.services.store.db.updateTable('messages').set({ status: 'sending', lease_until: Date.now() - 1, attempts: 1 }).where('id', '=', id).execute();
    expect(await gw.services.dispatcher.recover()).toBe(1);
    const requeued = (await get(gw.app, `/api/sms/${id}`)).body;
    expect(requeued.status).toBe('queued');
    expect(requeued.events.map((e: any) => [e.status, e.source])).toEqual([['queued', 'api'], ['sending', 'dispatcher'], ['queued', 'recovery']]);
    // Numbered in that order too (the events stream's order): the claim's `sending`, written by recovery, before its own change.
    const stored = await gw.services.store.db.selectFrom('message_events').select(['status', 'source']).where('message_id', '=', id).orderBy('id').execute();
    expect(stored.map((e) => [e.status, e.source])).toEqual([['sending', 'dispatcher'], ['queued', 'recovery']]);
    await drain(gw.services);
    expect((await get(gw.app, `/api/sms/${id}`)).body.status).toBe('delivered');
    expect((await get(gw.app, '/api/simulator/outbox')).body.total).toBe(1);
  });

  it('asks the provider about several stale sends at once, and decides each by its own answer', async () => {
    gw = await startGateway({ PROVIDER_TIMEOUT: '1', DISPATCH_LEASE_SECONDS: '2' });
    const ids: string[] = [];
    for (let i = 0; i < RECOVERY_LOOKUPS_AT_ONCE + 2; i++) ids.push((await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: `x${i}` })).body.messages[0].id);
    await gw.services.store.db.updateTable('messages').set({ status: 'sending', lease_until: Date.now() - 1, attempts: 1 }).where('id', 'in', ids).execute();
    const simulator = gw.services.simulator!;
    const lookup = simulator.lookup!;
    const asked: Array<{ id: string; answer: () => void }> = [];
    let arrived = () => {};
    simulator.lookup = (hint: LookupHint) => new Promise<{ providerMessageId: string } | null>((resolve, reject) => {
      // The first message's send went out before the crash (the provider knows it); the others never did.
      const answer = () => (hint.messageId === ids[0] ? Promise.resolve({ providerMessageId: 'sim_taken' }) : lookup.call(simulator, hint)).then(resolve, reject);
      asked.push({ id: hint.messageId, answer });
      arrived();
    });
    try {
      const recovery = gw.services.dispatcher.recover();
      // Given time for every question that could go out at once (one at a time, only the first would).
      for (let waited = 0; asked.length < RECOVERY_LOOKUPS_AT_ONCE && waited < 2000; waited += 10) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 20));
      // As many questions out at once as allowed, not one at a time, and no more.
      expect(asked).toHaveLength(RECOVERY_LOOKUPS_AT_ONCE);
      for (let answered = 0; answered < ids.length; answered++) {
        while (asked.length <= answered) await new Promise<void>((r) => { arrived = r; });
        asked[answered].answer();
      }
      expect(await recovery).toBe(ids.length);
    } finally {
      simulator.lookup = lookup;
    }
    expect(asked.map((a) => a.id).sort()).toEqual([...ids].sort());
    const statuses = await Promise.all(ids.map(async (id) => (await get(gw!.app, `/api/sms/${id}`)).body));
    expect(statuses[0]).toMatchObject({ status: 'sent', provider_message_id: 'sim_taken' });
    for (const m of statuses.slice(1)) expect(m.status).toBe('queued');
  });

  it('recovers a send the provider took before the crash as sent, without sending again', async () => {
    gw = await startGateway({ PROVIDER_TIMEOUT: '1', DISPATCH_LEASE_SECONDS: '2' });
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' });
    const id = res.body.messages[0].id;
    const simulator = gw.services.simulator!;
    // The provider took it, then the worker died before storing the answer.
    await gw.services.store.db.updateTable('messages').set({ status: 'sending', lease_until: Date.now() - 1, attempts: 1 }).where('id', '=', id).execute();
    const outcome = await simulator.send({ id, to: US, from: undefined, body: 'x', messageType: 'text', encoding: 'GSM-7', segments: 1, smsType: 'transactional', statusCallbackUrl: '', validitySeconds: undefined }, new AbortController().signal);
    await gw.services.dispatcher.recover();
    const m = (await get(gw.app, `/api/sms/${id}`)).body;
    expect(m).toMatchObject({ status: 'sent', provider_message_id: outcome.kind === 'accepted' ? outcome.providerMessageId : 'x' });
    expect((await get(gw.app, '/metrics')).body).toMatch(/^sms_messages_sent_total\{provider="simulator",sms_type="transactional"\} 1$/m);
    await drain(gw.services);
    expect((await get(gw.app, '/api/simulator/outbox')).body.total).toBe(1);
    expect((await get(gw.app, `/api/sms/${id}`)).body.status).toBe('delivered');
  });

  it('counts a send once when recovery confirms it before the round that sent it is stored', async () => {
    const id = await sendWithRoundHeld({}, async (calls, _held, id) => {
      const recovery = gw!.services.dispatcher.recover(afterTheLease());
      (await calls.nextLookup(recovery)).answer();
      expect(await recovery).toBe(1);
      expect((await get(gw!.app, `/api/sms/${id}`)).body.status).toBe('sent');
    });
    expect((await get(gw!.app, '/metrics')).body).toMatch(SENT_ONCE);
    // Recovery wrote the claim's event; the late round writes none of its own.
    const m = (await get(gw!.app, `/api/sms/${id}`)).body;
    expect(m.events.map((e: any) => [e.status, e.source])).toEqual([['queued', 'api'], ['sending', 'dispatcher'], ['sent', 'recovery']]);
    expect((await get(gw!.app, '/api/simulator/outbox')).body.total).toBe(1);
  });

  it('writes one claim event when the round is stored while recovery is still asking the provider', async () => {
    const id = await sendWithRoundHeld({}, async (calls, { round, send }) => {
      const recovery = gw!.services.dispatcher.recover(afterTheLease());
      const lookup = await calls.nextLookup(recovery);
      send.answer();
      await round;
      lookup.answer();
      expect(await recovery).toBe(1);
    });
    expect((await get(gw!.app, '/metrics')).body).toMatch(SENT_ONCE);
    const m = (await get(gw!.app, `/api/sms/${id}`)).body;
    expect(m.events.map((e: any) => [e.status, e.source])).toEqual([['queued', 'api'], ['sending', 'dispatcher'], ['sent', 'dispatcher']]);
  });

  it('counts a send, and writes its claim\'s event, when its delivery report is applied before the round that sent it is stored', async () => {
    const id = await sendWithRoundHeld({ SIMULATOR_DELIVERY_DELAY_MS: '0' }, async (_calls, _held, id) => {
      expect(await gw!.services.simulatorReports!.deliverDue(Date.now() + 1000)).toBe(1);
      expect((await get(gw!.app, `/api/sms/${id}`)).body.status).toBe('delivered');
    });
    expect((await get(gw!.app, '/metrics')).body).toMatch(SENT_ONCE);
    const m = (await get(gw!.app, `/api/sms/${id}`)).body;
    expect(m).toMatchObject({ status: 'delivered', provider_message_id: expect.stringMatching(/./) });
    expect(m.events.map((e: any) => e.status)).toEqual(['queued', 'sending', 'delivered']);
    // Numbered in that order too: the report wrote the claim's `sending` ahead of its own change, and the round wrote none.
    expect(await changesByNumber(id)).toEqual([['sending', 'dispatcher'], ['delivered', 'provider:simulator']]);
  });

  it('writes the claim\'s event with a delivery report that comes after the round that sent it was lost in a crash', async () => {
    // A worker claimed it, handed it to the provider and died before storing the answer; the provider then reports it.
    const { g, id, claimedAt } = await claimedMessage(50);
    expect((await post(g.app, `/api/sms/${id}/webhook`, { status: 'delivered' })).body).toMatchObject({ applied: true, previous_status: 'sending' });
    const m = (await get(g.app, `/api/sms/${id}`)).body;
    expect(m.events.map((e: any) => [e.status, e.source])).toEqual([['queued', 'api'], ['sending', 'dispatcher'], ['delivered', 'webhook']]);
    expect(Date.parse(m.events[1].timestamp)).toBe(claimedAt);
    expect(await changesByNumber(id)).toEqual([['sending', 'dispatcher'], ['delivered', 'webhook']]);
    // Nothing is left for recovery: the message is no longer sending.
    expect(await g.services.dispatcher.recover(afterTheLease())).toBe(0);
    // A later report writes no second claim event.
    await post(g.app, `/api/sms/${id}/webhook`, { status: 'delivered' });
    expect(await changesByNumber(id)).toEqual([['sending', 'dispatcher'], ['delivered', 'webhook']]);
  });

  it.runIf(onPostgres)('stamps a report that waited for its message\'s row after the change it waited for', async () => {
    const { g, id, claimedAt } = await claimedMessage(50);
    const { db } = g.services.store;
    // A round storing `sent` holds the row while the report begins: the report's UPDATE waits for it.
    const report = await whileRowHeld(g, id, async (trx) => {
      await trx.updateTable('messages').set({ status: 'sent', sent_at: Date.now(), lease_until: null }).where('id', '=', id).execute();
      await trx.insertInto('message_events').values([
        { message_id: id, status: 'sending', previous_status: 'queued', source: 'dispatcher', detail: null, created_at: claimedAt },
        { message_id: id, status: 'sent', previous_status: 'sending', source: 'dispatcher', detail: null, created_at: Date.now() },
      ]).execute();
    }, () => post(g.app, `/api/sms/${id}/webhook`, { status: 'delivered' }));
    expect(report.body).toMatchObject({ applied: true, previous_status: 'sent', status: 'delivered' });
    const events = await db.selectFrom('message_events').select(['status', 'created_at']).where('message_id', '=', id).orderBy('id').execute();
    expect(events.map((e) => e.status)).toEqual(['sending', 'sent', 'delivered']);
    expect(Number(events[2].created_at)).toBeGreaterThanOrEqual(Number(events[1].created_at));
    // So the message's own list, by time, shows them in that order too.
    expect((await get(g.app, `/api/sms/${id}`)).body.events.map((e: any) => e.status)).toEqual(['queued', 'sending', 'sent', 'delivered']);
  });

  it.runIf(onPostgres)('writes the claim\'s event once when a round leaves the send to recovery while recovery is moving it', async () => {
    // Its lease has run out: recovery takes it.
    const { g, id, claimedAt } = await claimedMessage(50, Date.now() - 1);
    const calls = holdEachCall(g.services.router.get('simulator')!);
    try {
      const recovery = g.services.dispatcher.recover();
      const lookup = await calls.nextLookup(recovery);
      // The round that outlived its lease stores an unknown outcome (the claim's event, the message left sending)
      // while recovery, told the simulator never got it, queues the message again: recovery waits for its row.
      await whileRowHeld(g, id, async (trx) => {
        await trx.insertInto('message_events').values({ message_id: id, status: 'sending', previous_status: 'queued', source: 'dispatcher', detail: null, created_at: claimedAt }).execute();
      }, async () => {
        lookup.answer();
        return recovery;
      });
      expect(await recovery).toBe(1);
    } finally {
      calls.restore();
    }
    expect(await changesByNumber(id)).toEqual([['sending', 'dispatcher'], ['queued', 'recovery']]);
  });

  it.runIf(onPostgres)('stamps the claim\'s event of a report with the claim it moved on, when the message was claimed again meanwhile', async () => {
    const { g, id, claimedAt: firstClaim } = await claimedMessage(100);
    const { db } = g.services.store;
    const secondClaim = Date.now() - 20;
    // While the report waits for the row, the first send is retried and the message claimed again (claims 2).
    const report = await whileRowHeld(g, id, async (trx) => {
      await trx.insertInto('message_events').values([
        { message_id: id, status: 'sending', previous_status: 'queued', source: 'dispatcher', detail: null, created_at: firstClaim },
        { message_id: id, status: 'queued', previous_status: 'sending', source: 'dispatcher', detail: 'retry', created_at: firstClaim + 10 },
      ]).execute();
      await trx.updateTable('messages').set({ claims: 2, attempts: 2, updated_at: secondClaim }).where('id', '=', id).execute();
    }, () => post(g.app, `/api/sms/${id}/webhook`, { status: 'delivered' }));
    expect(report.body).toMatchObject({ applied: true, previous_status: 'sending', status: 'delivered' });
    const events = await db.selectFrom('message_events').select(['status', 'created_at']).where('message_id', '=', id).orderBy('id').execute();
    expect(events.map((e) => e.status)).toEqual(['sending', 'queued', 'sending', 'delivered']);
    expect(Number(events[2].created_at)).toBe(secondClaim);
  });

  it('numbers the claim\'s sending before the expiry of a message whose expire_at passed between claim and send', async () => {
    gw = await startGateway({});
    const id = (await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' })).body.messages[0].id;
    // Past its expire_at but still queued: the scheduler has not looked yet, so the round claims it and finds it expired.
    await gw.services.store.db.updateTable('messages').set({ expire_at: Date.now() - 1 }).where('id', '=', id).execute();
    expect(await gw.services.dispatcher.dispatchOnce(gw.services.router.get('simulator')!)).toBe(1);
    const m = (await get(gw.app, `/api/sms/${id}`)).body;
    expect(m).toMatchObject({ status: 'expired', error_code: 'EXPIRED' });
    expect(m.events.map((e: any) => [e.status, e.source])).toEqual([['queued', 'api'], ['sending', 'dispatcher'], ['expired', 'dispatcher']]);
    expect(await changesByNumber(id)).toEqual([['sending', 'dispatcher'], ['expired', 'dispatcher']]);
    expect((await get(gw.app, '/api/simulator/outbox')).body.total).toBe(0);
  });

  it('writes no second claim event with a report about a send the round left to recovery', async () => {
    const id = await sendWithRoundHeld({}, async (_calls, { round, send }) => {
      // The round hears nothing it can trust: the message stays sending, its claim's event written, for recovery.
      send.answer({ kind: 'unknown', code: 'PROVIDER_TIMEOUT', message: 'timed out' });
      await round;
    });
    expect(await changesByNumber(id)).toEqual([['sending', 'dispatcher']]);
    expect((await post(gw!.app, `/api/sms/${id}/webhook`, { status: 'delivered' })).body).toMatchObject({ applied: true, previous_status: 'sending' });
    expect(await changesByNumber(id)).toEqual([['sending', 'dispatcher'], ['delivered', 'webhook']]);
  });

  // A round that outlived its lease, or a recovery, that acted on a newer claim of its message would let a
  // third round send it while the newer claim's send is out: two copies on the recipient's phone.
  const THROTTLED: SendOutcome = { kind: 'retry', code: 'SIM_THROTTLED', message: 'throttled' };

  /**
   * `meanwhile` leaves the message claimed again by a round held at its send (which it returns). That
   * claim must still stand; then its send is answered and everything drained. Returns the message.
   */
  async function withNewerClaim(meanwhile: (calls: HeldCalls, simulator: SmsProvider) => Promise<HeldRound>) {
    gw = await startGateway({ SEND_RETRY_BASE_MS: '1', SEND_RETRY_MAX_MS: '1' });
    const id: string = (await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' })).body.messages[0].id;
    const simulator = gw.services.router.get('simulator')!;
    const calls = holdEachCall(simulator);
    try {
      const current = await meanwhile(calls, simulator);
      expect(await gw.services.messages.get(id)).toMatchObject({ status: 'sending', attempts: 2 });
      current.send.answer();
      await current.round;
    } finally {
      calls.restore();
    }
    await drain(gw.services);
    expect((await get(gw.app, '/api/simulator/outbox')).body.total).toBe(1);
    return (await get(gw.app, `/api/sms/${id}`)).body;
  }

  /** A round claims the message again and is held at its send. */
  async function claimAgain(calls: HeldCalls, simulator: SmsProvider): Promise<HeldRound> {
    const round = gw!.services.dispatcher.dispatchOnce(simulator);
    return { round, send: await calls.nextSend(round) };
  }

  it('leaves a newer claim alone: a round stored after its message was recovered and claimed again requeues nothing', async () => {
    const m = await withNewerClaim(async (calls, simulator) => {
      const late = gw!.services.dispatcher.dispatchOnce(simulator);
      const lateSend = await calls.nextSend(late);
      // Its lease runs out; the simulator never got the message, so recovery queues it again.
      const recovery = gw!.services.dispatcher.recover(afterTheLease());
      (await calls.nextLookup(recovery)).answer();
      expect(await recovery).toBe(1);
      const current = await claimAgain(calls, simulator);
      lateSend.answer(THROTTLED);
      await late;
      return current;
    });
    expect(m.status).toBe('delivered');
    expect(m.events.map((e: any) => [e.status, e.source])).toEqual([
      ['queued', 'api'], ['sending', 'dispatcher'], ['queued', 'recovery'], ['sending', 'dispatcher'], ['sent', 'dispatcher'], ['delivered', 'provider:simulator'],
    ]);
  });

  it('leaves a newer claim alone: a recovery that asked the provider before the message was claimed again queues nothing', async () => {
    const m = await withNewerClaim(async (calls, simulator) => {
      const late = gw!.services.dispatcher.dispatchOnce(simulator);
      const lateSend = await calls.nextSend(late);
      const recovery = gw!.services.dispatcher.recover(afterTheLease());
      const lookup = await calls.nextLookup(recovery);
      // The late round is stored while recovery waits for the provider: it queues the message, a round claims it.
      lateSend.answer(THROTTLED);
      await late;
      // Past the retry's due time (1 ms).
      await new Promise((r) => setTimeout(r, 5));
      const current = await claimAgain(calls, simulator);
      // The provider has not got it (the newer send is held): "never received", about the claim recovery took.
      lookup.answer();
      expect(await recovery).toBe(1);
      return current;
    });
    expect(m.status).toBe('delivered');
  });

  it('fails an interrupted send as OUTCOME_UNKNOWN when the provider cannot be asked', async () => {
    gw = await startGateway();
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' });
    const id = res.body.messages[0].id;
    const simulator = gw.services.router.get('simulator') as SmsProvider & { lookup?: unknown };
    const lookup = simulator.lookup;
    simulator.lookup = undefined;
    try {
      await gw.services.store.db.updateTable('messages').set({ status: 'sending', lease_until: Date.now() - 1 }).where('id', '=', id).execute();
      await gw.services.dispatcher.recover();
      expect((await get(gw.app, `/api/sms/${id}`)).body).toMatchObject({ status: 'failed', error_code: 'OUTCOME_UNKNOWN' });
      expect((await get(gw.app, '/metrics')).body).toMatch(/^sms_messages_failed_total\{provider="simulator",sms_type="transactional",status="failed"\} 1$/m);
    } finally {
      simulator.lookup = lookup;
    }
  });

  // On PostgreSQL every job has a transaction of its own: no group to fail, so nothing to count twice.
  it.skipIf(onPostgres)('counts a provider failure toward its circuit once, even when the round\'s store runs again alone', async () => {
    gw = await startGateway({ CIRCUIT_FAILURE_THRESHOLD: '2' });
    await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' });
    const { commits, router } = gw.services;
    const simulator = router.get('simulator')!;
    const send = simulator.send;
    const run = commits.run;
    // A surely-not-taken failure. The round's next write is its store: a job queued behind it fails their
    // group, so the store, which ran in the group first, runs again alone.
    simulator.send = async () => {
      commits.run = ((job: Parameters<typeof run>[0]) => {
        commits.run = run;
        const stored = run.call(commits, job);
        void run.call(commits, async () => { throw new Error('another job of the group fails'); }).catch(() => undefined);
        return stored;
      }) as typeof run;
      return { kind: 'retry', code: 'PROVIDER_ERROR', message: 'HTTP 503' };
    };
    try {
      await gw.services.dispatcher.dispatchOnce(simulator);
    } finally {
      simulator.send = send;
      commits.run = run;
    }
    expect((await get(gw.app, '/api/sms?status=queued')).body.total).toBe(1);
    expect(router.breaker('simulator').state(Date.now())).toBe('closed');
    router.breaker('simulator').failure(Date.now());
    expect(router.breaker('simulator').state(Date.now())).toBe('open');
  });

  it('reports simulated failures as undelivered', async () => {
    gw = await startGateway({ SIMULATOR_FAILURE_RATE: '1' });
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' });
    await drain(gw.services);
    expect((await get(gw.app, `/api/sms/${res.body.messages[0].id}`)).body).toMatchObject({ status: 'undelivered', error_code: 'SIM_UNREACHABLE' });
  });

  it('runs by itself: the started loops deliver without being driven', async () => {
    gw = await startGateway({ RUN_WORKER: 'true' });
    const { startWorkers } = await import('../../src/services/container.js');
    startWorkers(gw.services);
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x' });
    const id = res.body.messages[0].id;
    for (let i = 0; i < 100 && (await get(gw.app, `/api/sms/${id}`)).body.status !== 'delivered'; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await get(gw.app, `/api/sms/${id}`)).body.status).toBe('delivered');
  });
});
