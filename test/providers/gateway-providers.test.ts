/**
 * The five real providers wired into a whole gateway, driven through the public API only
 * (POST /api/sms/send, GET /api/sms/{id}, POST /api/webhooks/{provider}, GET /api/providers)
 * against the loopback fakes in ./fakes. Dispatch is driven by hand (RUN_WORKER=false).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createGateway } from '../../src/gateway.js';
import { dropDatabase } from '../helpers/database.js';
import { drain, eventsByNumber, testEnv, US } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';
import { freePort } from '../helpers/process.js';
import {
  DRIVERS, jsonFile, message, nexmoDriver, providers, REAL_PROVIDERS, sendOne, sleep, startListeningGateway,
  startReportFirstTwilio, twilioDriver, twilioEnv, type ProviderDriver, type RealProvider,
} from '../helpers/providers.js';
import { startTwilioFake, type FakeAnswer, type RecordedRequest } from './fakes/twilio-fake.js';
import { createServer } from 'node:http';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
});

/** Closes it after the test, last opened first. */
function later<T extends { close(): Promise<void> } | { stop(): Promise<void> }>(thing: T): T {
  cleanups.push(() => ('close' in thing ? thing.close() : thing.stop()));
  return thing;
}

async function driver(name: RealProvider): Promise<ProviderDriver> {
  return later(await DRIVERS[name]());
}

async function gateway(env: Record<string, string>) {
  const g = await startListeningGateway(env);
  later(g.gw);
  return g;
}

/** The outcomes of the message's send_attempts rows, as stored. */
async function storedAttempts(gw: Awaited<ReturnType<typeof gateway>>['gw'], id: string): Promise<string[]> {
  const rows = await gw.services.store.db.selectFrom('send_attempts').select('outcome').where('message_id', '=', id).orderBy('created_at').execute();
  return rows.map((r) => r.outcome);
}

/** A message's statuses in event-number order (the events stream's), checked to be in time order too. */
async function statusesByNumber(gw: Awaited<ReturnType<typeof gateway>>['gw'], id: string): Promise<string[]> {
  const events = await eventsByNumber(gw.services, id);
  events.forEach((e, i) => expect(e.created_at).toBeGreaterThanOrEqual(i === 0 ? 0 : Number(events[i - 1].created_at)));
  return events.map((e) => e.status);
}
const twilioError = (code: number, text: string, status: number) => ({ code, message: text, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
const UNAVAILABLE: FakeAnswer = { status: 503, body: twilioError(20500, 'Service Unavailable', 503) };
const ROUTE_TWILIO_THEN_PLIVO = { routes: [{ match: { country: ['US'] }, providers: ['twilio', 'plivo'], strategy: 'priority' }] };

const WITH_REPORTS = REAL_PROVIDERS.filter((p) => p !== 'aws_sns');

describe('each provider end to end', () => {
  it.each(REAL_PROVIDERS)('%s: send -> sent with the provider id -> signed delivery report -> delivered', async (name) => {
    const d = await driver(name);
    const { gw, publicUrl } = await gateway(d.env);
    const id = await sendOne(gw, { provider: name });
    await drain(gw.services);

    const sent = await message(gw, id);
    expect(d.acceptedIds()).toHaveLength(1);
    const providerId = d.acceptedIds()[0];
    expect(sent).toMatchObject({ status: 'sent', provider: name, provider_message_id: providerId, attempts: 1 });
    expect(sent.send_attempts).toHaveLength(1);
    expect(sent.send_attempts[0]).toMatchObject({ provider: name, outcome: 'accepted', provider_message_id: providerId, error_code: null });

    const report = await d.postDelivered(publicUrl, providerId);
    if (name === 'aws_sns') {
      // SNS posts no per-message reports: anything posted is refused and changes nothing; `sent` is final.
      expect(report.status).toBe(422);
      expect((await message(gw, id)).status).toBe('sent');
      const sns = (await providers(gw)).aws_sns;
      expect(sns).toMatchObject({ enabled: true, capabilities: { delivery_reports: false } });
      return;
    }
    expect(report.status, report.body).toBe(200);
    expect(JSON.parse(report.body)).toMatchObject({ received: 1, applied: 1 });
    const delivered = await message(gw, id);
    expect(delivered).toMatchObject({ status: 'delivered', provider_message_id: providerId });
    expect(delivered.events.map((e: any) => e.status)).toEqual(['queued', 'sending', 'sent', 'delivered']);
    expect(delivered.events.at(-1).source).toBe(`provider:${name}`);
    expect((await providers(gw))[name].capabilities.delivery_reports).toBe(true);
  });
});

describe('report authentication', () => {
  it.each(WITH_REPORTS)('%s: forged and unsigned reports are refused with 401 and change nothing', async (name) => {
    const d = await driver(name);
    const { gw, publicUrl } = await gateway(d.env);
    const id = await sendOne(gw, { provider: name });
    await drain(gw.services);
    const providerId = d.acceptedIds()[0];
    const before = await message(gw, id);
    expect(before.status).toBe('sent');

    const forged = await d.postDelivered(publicUrl, providerId, 'forged');
    const unsigned = await d.postDelivered(publicUrl, providerId, 'unsigned');
    expect(forged.status, forged.body).toBe(401);
    expect(unsigned.status, unsigned.body).toBe(401);
    const after = await message(gw, id);
    expect(after.status).toBe('sent');
    expect(after.events).toEqual(before.events);
    expect(after.updated_at).toBe(before.updated_at);

    // The same report, properly signed, is taken: what was refused was only the credential.
    expect((await d.postDelivered(publicUrl, providerId, 'valid')).status).toBe(200);
    expect((await message(gw, id)).status).toBe('delivered');
  });
});

describe('unicode', () => {
  const TEXT = 'Привет 👋 ü';

  it.each(REAL_PROVIDERS)('%s: "Привет 👋 ü" arrives at the provider as the same UTF-8 text', async (name) => {
    const d = await driver(name);
    const { gw } = await gateway(d.env);
    const id = await sendOne(gw, { provider: name, message: TEXT });
    await drain(gw.services);

    expect(await message(gw, id)).toMatchObject({ status: 'sent', encoding: 'UCS-2', message: TEXT });
    expect(d.receivedTexts()).toEqual([TEXT]);
  });
});

describe('message types only to providers that can carry them', () => {
  it('refuses flash for twilio with a 422 naming message_type', async () => {
    const d = await driver('twilio');
    const { gw } = await gateway(d.env);
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'flash!', provider: 'twilio', message_type: 'flash' });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'message_type' })]));
    expect(JSON.stringify(res.body)).toMatch(/twilio does not support flash/);
    expect(d.sendRequests()).toBe(0);
  });

  it('routes flash to nexmo when twilio and nexmo are enabled and no DEFAULT_PROVIDER is set', async () => {
    const twilio = await driver('twilio');
    const nexmo = await driver('nexmo') as Awaited<ReturnType<typeof nexmoDriver>>;
    const { gw } = await gateway({ ...twilio.env, ...nexmo.env });
    const id = await sendOne(gw, { message: 'flash!', message_type: 'flash' });
    expect((await message(gw, id))).toMatchObject({ provider: 'nexmo', route: ['nexmo'] });
    await drain(gw.services);

    expect(await message(gw, id)).toMatchObject({ status: 'sent', provider: 'nexmo', provider_message_id: nexmo.acceptedIds()[0] });
    expect(twilio.sendRequests()).toBe(0);
    expect(nexmo.fake.requests[0].form).toMatchObject({ 'message-class': '0', text: 'flash!', to: US.slice(1) });
    // A text message in the same gateway still goes to twilio first.
    const text = await sendOne(gw, { message: 'plain' });
    expect((await message(gw, text)).route).toEqual(['twilio', 'nexmo']);
  });
});

describe('Vonage answers HTTP 200 with an error', () => {
  it.each([
    ['2', 'Missing from param', 'PROVIDER_REJECTED'],
    ['6', 'The message was invalid', 'INVALID_NUMBER'],
  ])('status "%s" fails the message', async (status, errorText, code) => {
    const d = later(await nexmoDriver({ respond: () => ({ status: 200, body: { 'message-count': '1', messages: [{ status, 'error-text': errorText }] } }) }));
    const { gw } = await gateway(d.env);
    const id = await sendOne(gw, { provider: 'nexmo' });
    await drain(gw.services);

    const m = await message(gw, id);
    expect(m).toMatchObject({ status: 'failed', error_code: code, error_message: errorText, provider_message_id: null, attempts: 1 });
    expect(m.send_attempts).toHaveLength(1);
    expect(m.send_attempts[0]).toMatchObject({ provider: 'nexmo', outcome: 'rejected', error_code: code, provider_error_code: status });
    expect(d.sendRequests()).toBe(1);
  });
});

describe('failover', () => {
  it('goes to plivo after twilio answers 503, and send_attempts shows both', async () => {
    const twilio = later(await twilioDriver({ answerCreate: () => UNAVAILABLE }));
    const plivo = await driver('plivo');
    // The default is not the first of the route, so the batch's provider below says which one it names.
    const { gw } = await gateway({ ...twilio.env, ...plivo.env, ROUTING_FILE: jsonFile('routes.json', ROUTE_TWILIO_THEN_PLIVO), DEFAULT_PROVIDER: 'plivo' });
    const id = await sendOne(gw);
    expect((await message(gw, id)).route).toEqual(['twilio', 'plivo']);
    await drain(gw.services);

    const m = await message(gw, id);
    expect(m).toMatchObject({ status: 'sent', provider: 'plivo', provider_message_id: plivo.acceptedIds()[0], attempts: 2 });
    expect(m.send_attempts.map((a: any) => [a.provider, a.outcome, a.error_code])).toEqual([
      ['twilio', 'retry', 'PROVIDER_UNAVAILABLE'],
      ['plivo', 'accepted', null],
    ]);
    expect(m.send_attempts[0].provider_error_code).toBe('20500');
    // The accepted send is the message itself (its provider, id and send time); only the retry has a row of its own.
    expect(m.send_attempts[1]).toMatchObject({ at: m.sent_at, provider_message_id: m.provider_message_id, duration_ms: expect.any(Number) });
    expect(await storedAttempts(gw, id)).toEqual(['retry']);
    // Its batch (no row: one recipient) names the provider it was accepted for, the first of its route (a
    // stored row named the default, which serves destinations no route matches).
    expect((await get(gw.app, `/api/sms/batches/${m.batch_id}`)).body).toMatchObject({ provider: 'twilio', counts: { sent: 1 } });
    expect(twilio.sendRequests()).toBe(1);
    expect(plivo.sendRequests()).toBe(1);
  });

  it('goes to plivo when twilio refuses the connection', async () => {
    const twilio = later(await startTwilioFake());
    const plivo = await driver('plivo');
    const closedPort = await freePort();
    const { gw } = await gateway({
      ...twilioEnv(twilio, `http://127.0.0.1:${closedPort}`), ...plivo.env, ROUTING_FILE: jsonFile('routes.json', ROUTE_TWILIO_THEN_PLIVO),
    });
    const id = await sendOne(gw);
    await drain(gw.services);

    const m = await message(gw, id);
    expect(m).toMatchObject({ status: 'sent', provider: 'plivo', provider_message_id: plivo.acceptedIds()[0] });
    expect(m.send_attempts.map((a: any) => [a.provider, a.outcome, a.error_code])).toEqual([
      ['twilio', 'retry', 'PROVIDER_UNREACHABLE'],
      ['plivo', 'accepted', null],
    ]);
    expect(m.send_attempts[0].error_message).toMatch(/ECONNREFUSED/);
  });
});

describe('timeouts', () => {
  it.each([
    ['never took the message', false],
    ['took the message but never answered', true],
  ])('are never failed over; recovery asks twilio by lookup (twilio %s)', async (_what, twilioKeepsIt) => {
    const twilio: Awaited<ReturnType<typeof twilioDriver>> = later(await twilioDriver({
      answerCreate: (request: RecordedRequest) => {
        if (twilioKeepsIt) twilio.fake.addMessage({ to: request.form.To, from: request.form.From, body: request.form.Body, statusCallback: request.form.StatusCallback });
        return 'hang';
      },
    }));
    const plivo = await driver('plivo');
    const { gw } = await gateway({
      ...twilio.env, ...plivo.env, PROVIDER_TIMEOUT: '1', SEND_MAX_ATTEMPTS: '1', ROUTING_FILE: jsonFile('routes.json', ROUTE_TWILIO_THEN_PLIVO),
    });
    const id = await sendOne(gw);
    const { dispatcher, router } = gw.services;

    const started = Date.now();
    await dispatcher.dispatchOnce(router.get('twilio')!);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await dispatcher.dispatchOnce(router.get('plivo')!);

    expect(plivo.sendRequests()).toBe(0);
    const left = await message(gw, id);
    expect(left).toMatchObject({ status: 'sending', provider: 'twilio', error_code: 'PROVIDER_TIMEOUT', provider_message_id: null });
    expect(left.send_attempts.map((a: any) => [a.provider, a.outcome, a.error_code])).toEqual([['twilio', 'unknown', 'PROVIDER_TIMEOUT']]);

    const lease = gw.services.config.dispatch.leaseSeconds * 1000;
    const lookupsBefore = twilio.fake.requests.filter((r) => r.method === 'GET').length;
    expect(await dispatcher.recover(Date.now() + lease)).toBe(1);
    const lookups = twilio.fake.requests.filter((r) => r.method === 'GET');
    expect(lookups.length - lookupsBefore).toBe(1);
    expect(lookups.at(-1)!.query.get('To')).toBe(US);

    const recovered = await message(gw, id);
    if (twilioKeepsIt) {
      // Found by recipient and time: sent, with Twilio's id, and never resent anywhere.
      expect(recovered).toMatchObject({ status: 'sent', provider: 'twilio', provider_message_id: twilio.fake.messages[0].sid, error_code: null });
      expect(recovered.events.at(-1)).toMatchObject({ status: 'sent', source: 'recovery' });
    } else {
      // Twilio says it has no such message: that is a surely-not-taken outcome, decided like any other.
      // SEND_MAX_ATTEMPTS=1 is spent, so it fails rather than go to plivo or to twilio again.
      expect(recovered).toMatchObject({ status: 'failed', provider: 'twilio', attempts: 1, error_code: 'PROVIDER_NOT_RECEIVED' });
      expect(recovered.events.at(-1)).toMatchObject({ status: 'failed', source: 'recovery' });
      expect(twilio.sendRequests()).toBe(1);
    }
    expect(plivo.sendRequests()).toBe(0);
    if (twilioKeepsIt) expect(twilio.sendRequests()).toBe(1);
  });
});

describe('recovery', () => {
  it('queues a send twilio never received for the next provider of its route, and counts the failover', async () => {
    const twilio = later(await twilioDriver({ answerCreate: () => 'hang' }));
    const plivo = await driver('plivo');
    const { gw } = await gateway({
      ...twilio.env, ...plivo.env, PROVIDER_TIMEOUT: '1', SEND_MAX_ATTEMPTS: '2', ROUTING_FILE: jsonFile('routes.json', ROUTE_TWILIO_THEN_PLIVO),
    });
    const id = await sendOne(gw);
    const { dispatcher, router } = gw.services;
    await dispatcher.dispatchOnce(router.get('twilio')!);
    expect(await dispatcher.recover(Date.now() + gw.services.config.dispatch.leaseSeconds * 1000)).toBe(1);
    expect(await message(gw, id)).toMatchObject({ status: 'queued', provider: 'plivo' });
    expect((await get(gw.app, '/metrics')).body).toMatch(/^sms_failovers_total\{from="twilio",to="plivo"\} 1$/m);
    await dispatcher.dispatchOnce(router.get('plivo')!);
    expect(await message(gw, id)).toMatchObject({ status: 'sent', provider: 'plivo' });
    expect(twilio.sendRequests()).toBe(1);
  });

  it('queues a send twilio never received for twilio again when it is the only provider, and counts the retry', async () => {
    const twilio = later(await twilioDriver({ answerCreate: () => 'hang' }));
    const { gw } = await gateway({ ...twilio.env, PROVIDER_TIMEOUT: '1', SEND_MAX_ATTEMPTS: '2' });
    const id = await sendOne(gw, { provider: 'twilio' });
    const { dispatcher, router } = gw.services;
    await dispatcher.dispatchOnce(router.get('twilio')!);
    expect((await get(gw.app, '/metrics')).body).not.toMatch(/^sms_send_retries_total\{provider="twilio"\}/m);
    expect(await dispatcher.recover(Date.now() + gw.services.config.dispatch.leaseSeconds * 1000)).toBe(1);
    expect(await message(gw, id)).toMatchObject({ status: 'queued', provider: 'twilio' });
    expect((await get(gw.app, '/metrics')).body).toMatch(/^sms_send_retries_total\{provider="twilio"\} 1$/m);
    expect((await get(gw.app, '/metrics')).body).not.toMatch(/^sms_failovers_total\{/m);
    // The round wrote the claim's `sending` (an unknown outcome leaves the message to recovery); recovery's change comes after it.
    expect(await statusesByNumber(gw, id)).toEqual(['sending', 'queued']);
  });
});

describe('event numbers', () => {
  it('follow a message failed at once: the claim\'s sending, then failed, each no earlier than the one before', async () => {
    const twilio = later(await twilioDriver({ answerCreate: () => ({ status: 400, body: twilioError(21211, "The 'To' number is not a valid phone number.", 400) }) }));
    const { gw } = await gateway(twilio.env);
    const id = await sendOne(gw, { provider: 'twilio' });
    await drain(gw.services);
    expect(await message(gw, id)).toMatchObject({ status: 'failed' });
    expect(await statusesByNumber(gw, id)).toEqual(['sending', 'failed']);
  });
});

describe('circuit breaker', () => {
  it('opens after 2 failures, lets exactly one probe through after the cool-down, and closes on its success', async () => {
    let down = true;
    const twilio = later(await twilioDriver({ answerCreate: () => (down ? UNAVAILABLE : undefined) }));
    const { gw } = await gateway({
      ...twilio.env, CIRCUIT_FAILURE_THRESHOLD: '2', CIRCUIT_COOL_DOWN_MS: '300', SEND_RETRY_BASE_MS: '1', SEND_RETRY_MAX_MS: '5',
    });
    const { dispatcher, router } = gw.services;
    const provider = router.get('twilio')!;
    const circuit = async () => (await providers(gw)).twilio.circuit;
    const ids = [await sendOne(gw, { provider: 'twilio' }), await sendOne(gw, { provider: 'twilio' }), await sendOne(gw, { provider: 'twilio' })];
    expect(await circuit()).toBe('closed');

    // One round sends all three: three 503s, the second of which opens the circuit.
    expect(await dispatcher.dispatchOnce(provider)).toBe(3);
    expect(twilio.sendRequests()).toBe(3);
    expect(await circuit()).toBe('open');
    // While open nothing goes, however due the messages are.
    await sleep(20);
    await dispatcher.dispatchOnce(provider);
    expect(twilio.sendRequests()).toBe(3);

    // After the cool-down one probe; it fails and the circuit opens again.
    await sleep(320);
    expect(await circuit()).toBe('half_open');
    expect(await dispatcher.dispatchOnce(provider)).toBe(1);
    expect(twilio.sendRequests()).toBe(4);
    expect(await circuit()).toBe('open');

    // After another cool-down one probe again; this one succeeds and closes the circuit.
    down = false;
    await sleep(320);
    expect(await circuit()).toBe('half_open');
    expect(await dispatcher.dispatchOnce(provider)).toBe(1);
    expect(twilio.sendRequests()).toBe(5);
    expect(await circuit()).toBe('closed');

    await sleep(10);
    await drain(gw.services);
    const finals = await Promise.all(ids.map((id) => message(gw, id)));
    expect(finals.map((m) => m.status)).toEqual(['sent', 'sent', 'sent']);
    expect(twilio.sendRequests()).toBe(7);
  });
});

describe('least-cost routing', () => {
  it('sends to the cheaper provider first and lists the route cheapest first', async () => {
    const twilio = await driver('twilio');
    const plivo = await driver('plivo');
    const { gw } = await gateway({
      ...twilio.env, ...plivo.env,
      ROUTING_FILE: jsonFile('routes.json', { routes: [{ match: { country: ['US'] }, providers: ['twilio', 'plivo'], strategy: 'least_cost' }] }),
      PRICE_TABLE_PATH: jsonFile('prices.json', { currency: 'USD', providers: { twilio: { US: 0.0079, default: 0.05 }, plivo: { US: 0.005, default: 0.04 } } }),
    });
    const id = await sendOne(gw);
    const queued = await message(gw, id);
    expect(queued).toMatchObject({ provider: 'plivo', route: ['plivo', 'twilio'], estimated_cost: 0.005, currency: 'USD' });
    await drain(gw.services);

    expect(await message(gw, id)).toMatchObject({ status: 'sent', provider: 'plivo', provider_message_id: plivo.acceptedIds()[0] });
    expect(twilio.sendRequests()).toBe(0);
    // Outside the rule's country the request falls back to every enabled provider in their order.
    const gb = await sendOne(gw, { to: [{ number: '+447400123456' }] });
    expect((await message(gw, gb)).route).toEqual(['twilio', 'plivo']);
  });
});

describe('per-provider budget', () => {
  it('holds a 429-ing twilio (5 per sliding second) under its rate, and every message ends sent', async () => {
    const arrivals: number[] = [];
    const throttledAt: number[] = [];
    const twilio = later(await twilioDriver({
      answerCreate: () => {
        const now = Date.now();
        arrivals.push(now);
        if (arrivals.filter((t) => t > now - 1000).length > 5) {
          throttledAt.push(now);
          return { status: 429, headers: { 'retry-after': '1' }, body: twilioError(20429, 'Too Many Requests', 429) };
        }
        return undefined;
      },
    }));
    const { gw } = await gateway({ ...twilio.env, TWILIO_MAX_PER_SECOND: '5' });
    const numbers = Array.from({ length: 20 }, (_, i) => ({ number: `+1415555${String(3000 + i)}` }));
    const res = await post(gw.app, '/api/sms/send', { to: numbers, message: 'budget', provider: 'twilio' });
    expect(res.status).toBe(200);
    const ids: string[] = res.body.messages.map((m: any) => m.id);

    const provider = gw.services.router.get('twilio')!;
    const deadline = Date.now() + 15_000;
    let sent = 0;
    while (Date.now() < deadline) {
      const handled = await gw.services.dispatcher.dispatchOnce(provider);
      sent = (await get(gw.app, '/api/sms?status=sent&limit=1')).body.total;
      if (sent === 20) break;
      if (handled === 0) await sleep(20);
    }

    // The most requests the fake saw in any sliding 1 s window, and in any calendar second.
    const slidingMax = Math.max(...arrivals.map((t) => arrivals.filter((u) => u > t - 1000 && u <= t).length));
    const perSecond = new Map<number, number>();
    for (const t of arrivals) perSecond.set(Math.floor(t / 1000), (perSecond.get(Math.floor(t / 1000)) ?? 0) + 1);
    const calendarMax = Math.max(...perSecond.values());
    const t0 = arrivals[0];
    console.info(`budget: ${arrivals.length} requests, ${throttledAt.length} answered 429, max ${slidingMax} in a sliding second, `
      + `${calendarMax} in a calendar second; arrivals (ms): ${arrivals.map((t) => t - t0).join(' ')}; 429s at ${throttledAt.map((t) => t - t0).join(' ')}`);

    expect(sent).toBe(20);
    const finals = await Promise.all(ids.map((id) => message(gw, id)));
    expect(finals.every((m) => m.status === 'sent')).toBe(true);
    // +1 tolerance: a request landing a few ms early against the window edge (network jitter vs. the
    // budget's own clock). The budget's burst is one second's worth, so it alone does not keep a
    // sliding window under 5: see the report.
    expect(slidingMax).toBeLessThanOrEqual(6);
  });
});

describe('GET /api/providers and DEFAULT_PROVIDER', () => {
  it('lists all six, enabled or with the variables they lack', async () => {
    const twilio = await driver('twilio');
    const plivo = await driver('plivo');
    const { gw } = await gateway({ ...twilio.env, ...plivo.env, PLIVO_MAX_PER_SECOND: '7' });
    const res = await get(gw.app, '/api/providers');
    expect(res.status).toBe(200);
    const items = res.body.items as any[];
    expect(items.map((p) => p.name)).toEqual(['twilio', 'aws_sns', 'plivo', 'nexmo', 'clickatell', 'smpp', 'simulator']);
    const byName = Object.fromEntries(items.map((p) => [p.name, p]));
    for (const name of ['twilio', 'plivo']) {
      expect(byName[name]).toMatchObject({ enabled: true, default: false, circuit: 'closed', capabilities: { message_types: ['text', 'unicode'], delivery_reports: true } });
      expect(byName[name].missing_variables).toBeUndefined();
    }
    expect(byName.plivo.budget_per_second).toBe(7);
    expect(byName.twilio.budget_per_second).toBe(10);
    expect(byName.aws_sns).toMatchObject({ enabled: false, missing_variables: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'], capabilities: null, circuit: null });
    expect(byName.nexmo).toMatchObject({ enabled: false, missing_variables: ['NEXMO_API_KEY', 'NEXMO_API_SECRET'] });
    expect(byName.clickatell).toMatchObject({ enabled: false, missing_variables: ['CLICKATELL_API_KEY'] });
    expect(byName.smpp).toMatchObject({ enabled: false, missing_variables: ['SMPP_HOST'] });
    expect(byName.simulator).toMatchObject({ enabled: false, missing_variables: ['SIMULATOR_ENABLED=true'] });
  });

  it('DEFAULT_PROVIDER=twilio without credentials stops createGateway with a ConfigError naming the TWILIO_* variables', async () => {
    const env = await testEnv({ DEFAULT_PROVIDER: 'twilio', SIMULATOR_ENABLED: 'false', TWILIO_AUTH_TOKEN: 'only-the-token' });
    cleanups.push(() => dropDatabase(env.DATABASE_URL));
    const attempt = createGateway(loadConfig(env));
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    const err = await attempt.catch((e: ConfigError) => e) as ConfigError;
    expect(err.variable).toBe('DEFAULT_PROVIDER');
    expect(err.message).toContain('DEFAULT_PROVIDER');
    expect(err.message).toContain('TWILIO_ACCOUNT_SID');
    expect(err.message).toContain('TWILIO_PHONE_NUMBER');
    // What is set is not named as missing.
    expect(err.message).not.toContain('TWILIO_AUTH_TOKEN');

    const none = await testEnv({ DEFAULT_PROVIDER: 'twilio' });
    cleanups.push(() => dropDatabase(none.DATABASE_URL));
    const message = await createGateway(loadConfig(none)).then(() => 'started', (e: Error) => e.message);
    expect(message).toMatch(/DEFAULT_PROVIDER.*TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER/);
  });
});

describe('a report that comes before the send answer is stored', () => {
  it.each([
    ['by the provider id alone', true],
    ['carrying our message id', false],
  ])('is not lost (%s)', async (_what, bare) => {
    const twilio = later(await startTwilioFake());
    let publicUrl = '';
    const proxy = later(await startReportFirstTwilio(twilio, bare ? () => `${publicUrl}/api/webhooks/twilio` : undefined));
    const started = await gateway(twilioEnv(twilio, proxy.url));
    publicUrl = started.publicUrl;
    const { gw } = started;
    const id = await sendOne(gw, { provider: 'twilio' });
    await drain(gw.services);

    expect(proxy.reports).toHaveLength(1);
    expect(proxy.reports[0].status, proxy.reports[0].body).toBe(200);
    const [outcome] = JSON.parse(proxy.reports[0].body).results;
    if (bare) expect(outcome).toMatchObject({ applied: false, reason: expect.stringMatching(/kept/) });
    else expect(outcome).toMatchObject({ applied: true, previous_status: 'sending', status: 'delivered' });

    const m = await message(gw, id);
    expect(m).toMatchObject({ status: 'delivered', provider_message_id: twilio.messages[0].sid });
    expect(m.events.at(-1)).toMatchObject({ status: 'delivered', source: 'provider:twilio' });
    expect(m.sent_at).not.toBeNull();
    // Either way one accepted attempt. A report applied before the send was stored moved the message on, so the
    // attempt is a row of its own; a report kept until then finds the message sent, and the message is the attempt.
    expect(m.send_attempts).toEqual([expect.objectContaining({ provider: 'twilio', outcome: 'accepted', provider_message_id: twilio.messages[0].sid, at: m.sent_at })]);
    expect(await storedAttempts(gw, id)).toEqual(bare ? [] : ['accepted']);
    // Numbered in the order they happened: a report applied first writes the claim's `sending` ahead of its own change.
    expect(await statusesByNumber(gw, id)).toEqual(bare ? ['sending', 'sent', 'delivered'] : ['sending', 'delivered']);
  });
});

describe('reports about later parts of a long text that come before the send answer is stored', () => {
  it('are applied once the answer is: the message ends delivered when every part is', async () => {
    const vonage = later(await nexmoDriver());
    const { fake } = vonage;
    let publicUrl = '';
    const early: number[] = [];
    // In front of the fake: every part after the first is reported delivered before Vonage's answer reaches us.
    const proxy = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const upstream = await fetch(`${fake.url}${req.url}`, {
        method: req.method, body: Buffer.concat(chunks),
        headers: Object.fromEntries(['content-type', 'authorization', 'accept'].filter((h) => typeof req.headers[h] === 'string').map((h) => [h, req.headers[h] as string])),
      });
      const text = await upstream.text();
      const ids = (JSON.parse(text) as { messages: Array<{ 'message-id'?: string }> }).messages.map((m) => m['message-id']).slice(1);
      for (const part of fake.accepted.filter((p) => ids.includes(p.messageId))) {
        early.push((await fake.postDeliveryReport(`${publicUrl}/api/webhooks/nexmo`, fake.receiptFor(part))).status);
      }
      res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(text);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => { proxy.closeAllConnections(); proxy.close(() => resolve()); }));
    const started = await gateway({ ...vonage.env, NEXMO_BASE_URL: `http://127.0.0.1:${(proxy.address() as { port: number }).port}` });
    publicUrl = started.publicUrl;
    const { gw } = started;
    const id = await sendOne(gw, { provider: 'nexmo', message: 'A long text. '.repeat(30) });
    await drain(gw.services);

    expect(fake.accepted.length).toBeGreaterThanOrEqual(3);
    expect(early).toEqual(Array(fake.accepted.length - 1).fill(200));
    expect((await message(gw, id)).status).toBe('sent');
    // The first part's own report, late as usual, completes the message.
    const first = fake.accepted[0];
    expect((await fake.postDeliveryReport(`${publicUrl}/api/webhooks/nexmo`, fake.receiptFor(first))).status).toBe(200);
    expect((await message(gw, id)).status).toBe('delivered');
  });
});
