import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createServices, stopWorkers } from '../../src/services/container.js';
import { buildApp } from '../../src/http/app.js';
import { maskLogLine, maskText, processLog } from '../../src/logging.js';
import { dropDatabase } from '../helpers/database.js';
import { drain, testEnv, US } from '../helpers/gateway.js';

type LoggedGateway = Awaited<ReturnType<typeof loggedGateway>>;

/** A gateway whose every log line (LOG_LEVEL=trace) lands in `lines`. */
async function loggedGateway(overrides: Record<string, string> = {}) {
  const env = await testEnv({ LOG_LEVEL: 'trace', ...overrides });
  const services = await createServices(loadConfig(env));
  const lines: string[] = [];
  const app = await buildApp(services, { logStream: { write: (line: string) => void lines.push(line) } });
  return {
    app, services, lines,
    async stop() {
      await app.close();
      await stopWorkers(services);
      await services.store.close();
      await dropDatabase(env.DATABASE_URL);
    },
  };
}

let gw: LoggedGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
  vi.restoreAllMocks();
});

/** Absent as a token of its own: a 6-digit code may well occur inside a 13-digit timestamp. */
function expectAbsent(output: string, secret: string) {
  const escaped = secret.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  expect(output).not.toMatch(new RegExp(`(?<![0-9A-Za-z])${escaped}(?![0-9A-Za-z])`));
}

describe('logs (#8)', () => {
  it('never show a full number, an OTP code, a message body or an API key, at any level', async () => {
    gw = await loggedGateway({ API_KEY_REQUIRED: 'true', SIMULATOR_FAILURE_RATE: '1' });
    const { app } = gw;
    const { key } = await gw.services.keys.create('ops', ['admin']);
    const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

    const otp = await app.inject({ method: 'POST', url: '/api/otp/generate', headers: auth, payload: { phone_number: { number: US } } });
    expect(otp.statusCode).toBe(200);
    await drain(gw.services);
    const outbox = await app.inject({ method: 'GET', url: `/api/simulator/outbox?to=${encodeURIComponent(US)}`, headers: { 'x-api-key': key } });
    const text: string = outbox.json().items[0].body;
    const code = text.match(/\d{6}/)![0];
    await app.inject({ method: 'POST', url: '/api/otp/verify', headers: auth, payload: { phone_number: { number: US }, otp_code: code } });

    // Failing sends: refused (an invalid number, named in the reply), and undelivered (SIMULATOR_FAILURE_RATE=1).
    const refused = await app.inject({ method: 'POST', url: '/api/sms/send', headers: auth, payload: { to: [{ number: '+1234567890' }], message: `body ${code}` } });
    expect(refused.statusCode).toBe(422);
    const sent = await app.inject({ method: 'POST', url: '/api/sms/send', headers: auth, payload: { to: [{ number: US }], message: 'a private body' } });
    expect(sent.statusCode).toBe(200);
    await drain(gw.services);
    const message = await app.inject({ method: 'GET', url: `/api/sms/${sent.json().messages[0].id}`, headers: auth });
    expect(message.json().status).toBe('undelivered');
    await app.inject({ method: 'DELETE', url: `/api/opt-outs/${encodeURIComponent(US)}`, headers: auth });
    await app.inject({ method: 'GET', url: `/api/phone/validate/${US}`, headers: auth });

    // What careless code might log, at every level: the same guarantees.
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const) {
      app.log[level]({ headers: { authorization: `Bearer ${key}`, 'x-api-key': key, cookie: 'session=1' }, body: { to: US, message: text }, otp_code: code, to: US }, `sending to ${US} with ${key}`);
      app.log[level](new Error(`provider refused ${US} for key ${key}`));
      app.log[level]({ err: Object.assign(new Error(`duplicate key (number)=(${US})`), { detail: `Key (number)=(${US}) already exists`, code, body: text }) }, 'insert failed');
      app.log[level]('to %s, key %s', US, key);
      // Headers below the top level, as a provider client might log its request, in a call and in a child's bindings.
      app.log[level]({ provider: { request: { headers: { cookie: 'session=2', authorization: `Basic ${key}` } } } }, 'provider call');
      app.log.child({ upstream: { headers: { cookie: 'session=3', 'x-api-key': 'opaque-provider-key' } }, to: US })[level]('child line');
    }

    const output = gw.lines.join('');
    // Request lines (debug and trace) and the lines above were written: the checks below are not vacuous.
    expect(gw.lines.filter((l) => l.includes('incoming request')).length).toBeGreaterThan(5);
    expect(gw.lines.filter((l) => l.includes('"level":10')).length).toBeGreaterThan(0);
    expect(gw.lines.filter((l) => l.includes('"level":60')).length).toBeGreaterThan(0);
    expect(output).toContain('+*******2671');
    expect(output).toContain('%2B*******2671');
    for (const secret of [US, US.slice(1), `%2B${US.slice(1)}`, code, key, key.slice(4), text, 'a private body']) expectAbsent(output, secret);
    expect(output).not.toMatch(/4155552671/);
    expect(output.toLowerCase()).not.toContain('session=1');
    expect(output.toLowerCase()).not.toContain('session=2');
    expect(gw.lines.filter((l) => l.includes('child line')).length).toBeGreaterThan(0);
    expect(output.toLowerCase()).not.toContain('session=3');
    expect(output).not.toContain('opaque-provider-key');
    // Every line is still JSON.
    for (const line of gw.lines) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('masks what the processes print on the console', () => {
    const printed: string[] = [];
    for (const method of ['log', 'warn', 'error'] as const) vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void printed.push(args.join(' ')));
    const key = 'sgw_' + 'A'.repeat(43);
    processLog.info(`worker sent to ${US}`);
    processLog.warn(`circuit of provider twilio: closed -> open (${key})`);
    processLog.error('dispatch failed; retrying', Object.assign(new Error(`provider refused ${US}`), { body: { to: US, text: 'code 123456' }, detail: `(${US})` }));
    const output = printed.join('\n');
    expect(output).toContain('+*******2671');
    expect(output).toContain('sgw_[redacted]');
    expect(output).not.toContain(US);
    expect(output).not.toContain(key);
    expect(output).not.toContain('123456');
  });
});

describe('masking', () => {
  it('keeps the last four digits of anything that looks like a phone number', () => {
    expect(maskText('to +14155552671.')).toBe('to +*******2671.');
    expect(maskText('/api/opt-outs/%2B447400123456')).toBe('/api/opt-outs/%2B********3456');
    expect(maskText('+1 (415) 555-2671')).toBe('+* (***) ***-2671');
    expect(maskText('number=4155552671')).toBe('number=******2671');
    // Short numbers and the digits inside ids are not phone numbers.
    expect(maskText('port 54321, msg_01j5abc1234567, 10.0.0.1')).toBe('port 54321, msg_01j5abc1234567, 10.0.0.1');
    expect(maskText('Authorization: Bearer abc.def-ghi')).toBe('Authorization: Bearer [redacted]');
  });

  it('masks inside a finished JSON line, never pino\'s own numbers', () => {
    const line = `${JSON.stringify({ level: 30, time: 1712345678901, pid: 4242, msg: `to ${US}\n${US}` })}\n`;
    const masked = maskLogLine(line);
    expect(JSON.parse(masked)).toEqual({ level: 30, time: 1712345678901, pid: 4242, msg: 'to +*******2671\n+*******2671' });
  });
});
