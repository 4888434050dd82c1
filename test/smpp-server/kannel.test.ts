import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkers } from '../../src/services/container.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';
import { freePort } from '../helpers/process.js';
import { kannelAvailable, startKannel, type Kannel } from './kannel.js';

const available = kannelAvailable();
if (!available) {
  if (process.env.CI === 'true') throw new Error("Kannel (Debian's kannel: bearerbox, smsbox) is required under CI=true");
  console.warn('\n*** SKIPPED: the SMPP server tests against Kannel need /usr/sbin/bearerbox and /usr/sbin/smsbox (apt-get install kannel) ***\n');
}

const SYSTEM_ID = 'kannel';
const PASSWORD = 'kpass1';

/** Kannel's dlr-url calls, as `tag -> [dlr type, ...]`. */
function startDlrListener(port: number): Promise<{ server: Server; heard: Map<string, string[]> }> {
  const heard = new Map<string, string[]>();
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const tag = url.searchParams.get('tag')!;
    heard.set(tag, [...(heard.get(tag) ?? []), url.searchParams.get('type')!]);
    res.end('ok');
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve({ server, heard })));
}

async function until<T>(what: string, read: () => Promise<T | undefined> | T | undefined, explain: () => string, timeoutMs = 20_000, state?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms\n${state ? await state() : ''}\n${explain()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!available)('SMPP server: Kannel binds to it and submits through the gateway', () => {
  let gw: TestGateway;
  let kannel: Kannel;
  let dlr: { server: Server; heard: Map<string, string[]> };
  let dlrPort: number;

  beforeAll(async () => {
    gw = await startGateway({ SMPP_SERVER_PORT: '0', SMPP_SERVER_HOST: '127.0.0.1', PHONE_VALIDATION: 'format', DISPATCH_POLL_INTERVAL_MS: '10' });
    const created = await post(gw.app, '/api/smpp/accounts', { system_id: SYSTEM_ID, password: PASSWORD, throughput_per_second: 50 });
    expect(created.status).toBe(201);
    await gw.smppServer!.start();
    startWorkers(gw.services);
    dlrPort = await freePort();
    dlr = await startDlrListener(dlrPort);
    kannel = await startKannel(gw.smppServer!.port!, SYSTEM_ID, PASSWORD);
  });

  afterAll(async () => {
    await kannel?.stop();
    dlr?.server.close();
    await gw?.stop();
  });

  async function sendsms(tag: string, to: string, text: string, extra: Record<string, string> = {}) {
    const query = new URLSearchParams({
      username: kannel.username, password: kannel.password, to, text, charset: 'UTF-8', 'dlr-mask': '3',
      'dlr-url': `http://127.0.0.1:${dlrPort}/dlr?tag=${tag}&type=%d`, ...extra,
    });
    const res = await fetch(`${kannel.sendsmsUrl}?${query}`);
    expect(res.status, await res.text()).toBeLessThan(300);
  }

  async function delivered(to: string) {
    return until(`a message to ${to} reaching the simulator`, async () => {
      const { body } = await get(gw.app, `/api/simulator/outbox?to=${encodeURIComponent(to)}`);
      return body.items?.length > 0 ? body.items : undefined;
    }, () => kannel.logs());
  }

  it('GSM, UCS-2 and a long text Kannel splits reach the simulator intact (the long one as one text), and dlr-url hears delivered for each', async () => {
    const gsm = 'Hello from Kannel: @ £ $ _ ! ? 100% ÄÖÜ';
    const ucs2 = 'Привет из Kannel! 你好 ✓';
    const long = Array.from({ length: 50 }, (_, i) => `part${i}`).join(' ') + ' the end of a long text.';
    expect(long.length).toBeGreaterThan(320);
    await sendsms('gsm', '+447700900001', gsm);
    await sendsms('ucs2', '+447700900002', ucs2, { coding: '2' });
    await sendsms('long', '+447700900003', long);

    expect((await delivered('+447700900001')).map((m: { body: string }) => m.body)).toEqual([gsm]);
    expect((await delivered('+447700900002')).map((m: { body: string }) => m.body)).toEqual([ucs2]);
    expect((await delivered('+447700900003')).map((m: { body: string }) => m.body)).toEqual([long]);

    for (const tag of ['gsm', 'ucs2', 'long']) {
      await until(`Kannel's dlr-url hearing "delivered" (1) for ${tag}`, () => (dlr.heard.get(tag)?.includes('1') ? true : undefined),
        () => `heard: ${JSON.stringify([...dlr.heard])}\n${kannel.logs()}`, 20_000, async () => JSON.stringify({
          callbacks: await gw.services.store.db.selectFrom('callbacks').selectAll().execute(),
          submissions: await gw.services.store.db.selectFrom('smpp_submissions').selectAll().execute(),
        }));
    }

    const list = await get(gw.app, '/api/sms?to=%2B447700900003');
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).toMatchObject({ submitted_via: `smpp:${SYSTEM_ID}`, status: 'delivered', segments: 3, callback_url: null });
    const one = await get(gw.app, `/api/sms/${list.body.items[0].id}`);
    expect(one.body.submitted_via).toBe(`smpp:${SYSTEM_ID}`);
  });
});
