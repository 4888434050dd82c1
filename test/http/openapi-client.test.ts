import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance } from 'fastify';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drain, startGateway, type TestGateway, US, US2 } from '../helpers/gateway.js';
import { get, post } from '../helpers/http.js';

/**
 * A client generated from /openapi.json (openapi-typescript) must be typed end to end: the
 * replies the gateway really sent are assigned, as literals, to the generated reply types, and
 * the whole file must compile under strict settings. What the types cannot see, because the
 * serialiser already made the reply fit its schema (a field dropped, a null sent as ""), the
 * serialisation guard catches on every reply this file makes.
 */
let gw: TestGateway;
let dir: string;
let spec: any;
let drifts: string[];

/**
 * The serialiser writes what a reply schema names, in the type it names: a field the schema
 * lacks is dropped and a value of another type is coerced (null to "", 1.5 to 1), both silently.
 * Every JSON reply must come out exactly as the handler (or the error handler) returned it.
 */
function guardSerialisation(app: FastifyInstance): string[] {
  const found: string[] = [];
  const returned = new WeakMap<object, string>();
  app.addHook('preSerialization', (_request, reply, payload, done) => {
    returned.set(reply, JSON.stringify(payload));
    done(null, payload);
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    const before = returned.get(reply);
    if (before !== undefined && typeof payload === 'string' && !isDeepStrictEqual(JSON.parse(payload), JSON.parse(before))) {
      found.push(`${request.method} ${request.url} ${reply.statusCode}: returned ${before}, sent ${payload}`);
    }
    done(null, payload);
  });
  return found;
}

beforeAll(async () => {
  // A callback to a closed local port: its failed attempt is part of the tour.
  gw = await startGateway({ CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true' });
  drifts = guardSerialisation(gw.app);
  dir = await mkdtemp(join(tmpdir(), 'smsgw-client-'));
  const res = await gw.app.inject({ method: 'GET', url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  spec = res.json();
});

afterAll(async () => {
  await gw?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Compiles the given files the way a strict client project would, returning every diagnostic as text. */
function typeCheck(files: string[]): string[] {
  const program = ts.createProgram(files, {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    // Nothing from this repository's node_modules: the generated file must stand alone.
    types: [],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1} ` : '';
    return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
  });
}

describe('the OpenAPI document', () => {
  it('declares the send replies with their media types', () => {
    const responses = spec.paths['/api/sms/send'].post.responses;
    expect(Object.keys(responses['200'].content)).toEqual(['application/json']);
    expect(Object.keys(responses['422'].content)).toEqual(['application/problem+json']);
    expect(responses['200'].content['application/json'].schema.properties.messages).toBeDefined();
    expect(responses['422'].content['application/problem+json'].schema.properties.errors).toBeDefined();
  });

  it('gives every operation of the gateway\'s own API but /metrics a typed success reply', () => {
    const untyped: string[] = [];
    // The Twilio-compatible paths answer in Twilio's formats, which are not this API's.
    const own = Object.entries<any>(spec.paths).filter(([path]) => /^\/(api\/|health$|ready$|metrics$)/.test(path));
    expect(own.length).toBeGreaterThan(25);
    for (const [path, item] of own) {
      for (const [method, operation] of Object.entries<any>(item)) {
        const success = Object.entries<any>(operation.responses).filter(([status]) => /^2/.test(status));
        if (success.length === 0 || success.some(([, r]) => r.description === 'Default Response' && !r.content)) untyped.push(`${method.toUpperCase()} ${path}`);
      }
    }
    expect(untyped).toEqual(['GET /metrics']);
  });

  it('types a generated client end to end: a send, an OTP round trip and an error', async () => {
    const sent = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'Hello from the typed client', custom_id: 'client-1' });
    expect(sent.status).toBe(200);
    const generated = await post(gw.app, '/api/otp/generate', { phone_number: { number: US }, length: 6 });
    expect(generated.status).toBe(200);
    await drain(gw.services);
    // Read as the phone would: the OTP text in the simulator's outbox (the send went to the same number).
    const outbox = (await get(gw.app, `/api/simulator/outbox?to=${encodeURIComponent(US)}`)).body;
    const code = outbox.items.find((i: { message_id: string }) => i.message_id === generated.body.message_id).body.match(/\d{6}/)[0];
    const verified = await post(gw.app, '/api/otp/verify', { phone_number: { number: US }, otp_code: code, session_id: generated.body.session_id });
    expect(verified.body).toMatchObject({ verified: true });
    const invalid = await post(gw.app, '/api/sms/send', { to: [{ number: '+1234567890' }], message: 'Hello' });
    expect(invalid.status).toBe(422);
    expect(invalid.headers['content-type']).toMatch(/^application\/problem\+json/);

    await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    await writeFile(join(dir, 'api.d.ts'), astToString(await openapiTS(spec)));
    const literal = (value: unknown) => JSON.stringify(value, null, 2);
    await writeFile(join(dir, 'client.ts'), `
import type { paths } from './api.js';

type Send = paths['/api/sms/send']['post'];
type SendBody = Send['requestBody']['content']['application/json'];
type SendOk = Send['responses'][200]['content']['application/json'];
type SendInvalid = Send['responses'][422]['content']['application/problem+json'];
type Generate = paths['/api/otp/generate']['post'];
type Verify = paths['/api/otp/verify']['post'];

// (a) a send
export const sendBody: SendBody = { to: [{ number: '${US}', name: 'John Doe' }], message: 'Hello', sms_type: 'transactional', priority: 5 };
export const sent: SendOk = ${literal(sent.body)};
export const firstId: string = sent.messages[0].id;
export const cost: number = sent.estimated_cost;
export const customId: string | null = sent.custom_id;

// (b) an OTP round trip
export const generateBody: Generate['requestBody']['content']['application/json'] = { phone_number: { number: '${US}' }, length: 6, expiry_minutes: 5 };
export const generated: Generate['responses'][200]['content']['application/json'] = ${literal(generated.body)};
export const verifyBody: Verify['requestBody']['content']['application/json'] = { phone_number: { number: generated.phone_number }, otp_code: '${code}', session_id: generated.session_id };
export const verified: Verify['responses'][200]['content']['application/json'] = ${literal(verified.body)};
export const ok: boolean = verified.verified;
export const state: 'pending' | 'verified' | 'expired' | 'locked' = verified.status;

// (c) an error
export const invalid: SendInvalid = ${literal(invalid.body)};
export const fields: string[] = (invalid.errors ?? []).map((e) => e.field);

// The types are real: a number is no message text, and a reply has no field the schema does not name.
// @ts-expect-error message is a string
export const wrongBody: SendBody = { to: [{ number: '${US}' }], message: 42 };
// @ts-expect-error no such field in the reply
export const wrongField = sent.key_hash;
`);
    expect(typeCheck([join(dir, 'api.d.ts'), join(dir, 'client.ts')])).toEqual([]);
  }, 60_000);
});

describe('every reply schema', () => {
  it('sends each reply of a tour of the API exactly as it was returned, errors included', async () => {
    const app = gw.app;
    const call = async (method: string, url: string, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await app.inject({ method: method as 'GET', url, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers }, payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
      return { status: res.statusCode, body: res.body && String(res.headers['content-type']).includes('json') ? res.json() : res.body };
    };
    const statuses: Record<string, number> = {};
    const expectStatus = async (label: string, status: number, reply: Promise<{ status: number; body: any }>) => {
      const res = await reply;
      statuses[label] = res.status;
      expect(res.status, `${label}: ${JSON.stringify(res.body)}`).toBe(status);
      return res.body;
    };

    // Messages and batches.
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const sent = await expectStatus('send', 200, call('POST', '/api/sms/send', { to: [{ number: US, name: 'Ann' }], message: 'Hello {{name}}', custom_id: 'tour-1', metadata: { order: 7, tags: ['a'] }, callback_url: 'http://127.0.0.1:9/hook' }, { 'idempotency-key': 'tour' }));
    await expectStatus('send replayed', 200, call('POST', '/api/sms/send', { to: [{ number: US, name: 'Ann' }], message: 'Hello {{name}}', custom_id: 'tour-1', metadata: { order: 7, tags: ['a'] }, callback_url: 'http://127.0.0.1:9/hook' }, { 'idempotency-key': 'tour' }));
    await expectStatus('send, key reused', 409, call('POST', '/api/sms/send', { to: [{ number: US }], message: 'Other' }, { 'idempotency-key': 'tour' }));
    const scheduled = await expectStatus('send scheduled', 200, call('POST', '/api/sms/send', { to: [{ number: US2 }], message: 'Later', schedule_at: later, sms_type: 'alert', message_type: 'flash' }));
    const batch = await expectStatus('send-batch', 200, call('POST', '/api/sms/send-batch', { name: 'tour', recipients: [{ number: US }, { number: '+1234567890' }, { number: US }], message: 'Ünïcode offer', sms_type: 'promotional' }));
    const draft = await expectStatus('send-batch draft', 200, call('POST', '/api/sms/send-batch', { recipients: [{ number: US2 }], message: 'Draft', send_immediately: false }));
    await expectStatus('invalid send', 422, call('POST', '/api/sms/send', { to: [{ number: '+1234567890' }], message: 'x' }));
    await expectStatus('malformed JSON', 400, call('POST', '/api/sms/send', '{"to": ['));
    await expectStatus('release draft', 200, call('POST', `/api/sms/batches/${draft.batch_id}/send`));
    await expectStatus('release again', 409, call('POST', `/api/sms/batches/${draft.batch_id}/send`));
    await expectStatus('cancel scheduled message', 200, call('POST', `/api/sms/${scheduled.messages[0].id}/cancel`));
    await drain(gw.services);
    await expectStatus('batch', 200, call('GET', `/api/sms/batches/${batch.batch_id}`));
    await expectStatus('cancel finished batch', 409, call('POST', `/api/sms/batches/${batch.batch_id}/cancel`));
    await expectStatus('unknown batch', 404, call('GET', '/api/sms/batches/bat_nope'));
    const id = sent.messages[0].id;
    await expectStatus('message', 200, call('GET', `/api/sms/${id}`));
    await expectStatus('messages', 200, call('GET', '/api/sms?limit=10'));
    await expectStatus('list, bad status', 422, call('GET', '/api/sms?status=lost'));
    await expectStatus('callbacks', 200, call('GET', `/api/sms/${id}/callbacks`));
    await expectStatus('cancel sent message', 409, call('POST', `/api/sms/${id}/cancel`));
    await expectStatus('report', 200, call('POST', `/api/sms/${id}/webhook`, { status: 'delivered', provider: 'simulator' }));
    await expectStatus('report on a canceled message', 409, call('POST', `/api/sms/${scheduled.messages[0].id}/webhook`, { status: 'delivered' }));
    await expectStatus('provider reports', 200, call('POST', '/api/webhooks/simulator', [{ message_sid: 'sim_unknown', client_ref: 'msg_unknown', status: 'delivered', error_code: null, timestamp: new Date().toISOString() }, { message_sid: 'sim_early', status: 'sent' }]));
    await expectStatus('reports for a disabled provider', 404, call('POST', '/api/webhooks/twilio', {}));

    // Templates.
    await expectStatus('create template', 201, call('POST', '/api/templates', { id: 'tour_tpl', name: 'Tour', content: 'Hi {{name}}, code {{code}}', category: null }));
    await expectStatus('template id taken', 409, call('POST', '/api/templates', { id: 'tour_tpl', name: 'Tour', content: 'x' }));
    await expectStatus('templates', 200, call('GET', '/api/templates?search=tour'));
    await expectStatus('update template', 200, call('PUT', '/api/templates/tour_tpl', { content: 'Hello {{name}}', sms_type: 'otp' }));
    await expectStatus('template', 200, call('GET', '/api/templates/tour_tpl'));
    await expectStatus('render', 200, call('POST', '/api/templates/tour_tpl/render', { variables: { name: 'Ann' } }));
    await expectStatus('render, variable missing', 422, call('POST', '/api/templates/tour_tpl/render', { variables: {} }));
    await expectStatus('send from template', 200, call('POST', '/api/sms/send', { to: [{ number: US2, name: 'Bo' }], template_id: 'tour_tpl' }));
    await expectStatus('versions', 200, call('GET', '/api/templates/tour_tpl/versions'));
    await expectStatus('delete template', 204, call('DELETE', '/api/templates/tour_tpl'));
    await expectStatus('deleted template', 404, call('GET', '/api/templates/tour_tpl'));

    // OTP.
    const session = await expectStatus('otp', 200, call('POST', '/api/otp/generate', { phone_number: { number: US2 }, metadata: { purpose: 'tour' } }));
    await expectStatus('otp, wrong code', 200, call('POST', '/api/otp/verify', { phone_number: { number: US2 }, otp_code: '000000' }));
    await expectStatus('otp session', 200, call('GET', `/api/otp/sessions/${session.session_id}`));
    await expectStatus('otp resend in cooldown', 429, call('POST', `/api/otp/resend/${session.session_id}`));
    await expectStatus('otp unknown session', 404, call('POST', '/api/otp/verify', { phone_number: { number: US2 }, otp_code: '1234', session_id: 'otp_nope' }));

    // Everything else.
    await expectStatus('phone', 200, call('GET', '/api/phone/validate/4155552671?country_code=US'));
    await expectStatus('phone, not a number', 200, call('GET', '/api/phone/validate/hello'));
    await expectStatus('stats', 200, call('GET', '/api/analytics/stats?group_by=hour'));
    await expectStatus('providers', 200, call('GET', '/api/providers'));
    const key = await expectStatus('create key', 201, call('POST', '/api/keys', { name: 'tour', scopes: ['read'] }));
    await expectStatus('keys', 200, call('GET', '/api/keys'));
    await expectStatus('revoke key', 200, call('DELETE', `/api/keys/${key.id}`));
    await expectStatus('revoked key', 401, call('GET', '/api/sms', undefined, { authorization: `Bearer ${key.key}` }));
    await expectStatus('opt out', 201, call('POST', '/api/opt-outs', { number: US2, reason: 'asked' }));
    await expectStatus('opt out again', 200, call('POST', '/api/opt-outs', { number: US2 }));
    await expectStatus('opt-outs', 200, call('GET', '/api/opt-outs'));
    await expectStatus('opt back in', 204, call('DELETE', `/api/opt-outs/${encodeURIComponent(US2)}`));
    await expectStatus('opt back in again', 404, call('DELETE', `/api/opt-outs/${encodeURIComponent(US2)}`));
    await expectStatus('inbound', 201, call('POST', '/api/inbound', { from: US, text: ' STOP ' }));
    await expectStatus('inbound list', 200, call('GET', '/api/inbound'));
    await expectStatus('outbox', 200, call('GET', '/api/simulator/outbox?limit=5'));
    await expectStatus('audit', 200, call('GET', '/api/audit?limit=5'));
    await expectStatus('health', 200, call('GET', '/health'));
    await expectStatus('ready', 200, call('GET', '/ready'));

    expect(drifts).toEqual([]);
    // The callback's failed attempt is listed with its null status code.
    expect((await call('GET', `/api/sms/${id}/callbacks`)).body.items[0]).toMatchObject({ status_code: null, error: expect.any(String) });
  }, 60_000);
});
