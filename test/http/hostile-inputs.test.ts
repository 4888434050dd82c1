/**
 * Hostile input, every route: whatever a client sends, the gateway answers below 500, every error is a
 * problem+json document, and a rejected request writes no row.
 *
 * The fuzzing half discovers the routes from the running app (printRoutes), so a new route is covered
 * without touching this file, and shapes bodies from each route's own schema in /openapi.json before
 * breaking them. Each route's run collects every distinct violation and lists them all at the end, with
 * a request that reproduces it. `FUZZ_RUNS` (default 150) and `FUZZ_SEED` tune or replay a run.
 *
 * The second half has one named example per known defect, so a failure names it.
 */
import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway, US, US2 } from '../helpers/gateway.js';
import {
  countRows, deepArrayJson, deepObjectJson, discoverRoutes, errorDefect, httpRequest, preview, problemDefect, rowChanges,
  type DiscoveredRoute, type PlainResponse, type RowCounts,
} from '../helpers/hostile.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

// Limits out of the way so fuzzed requests get past them to the code behind.
const ENV = {
  MAX_SMS_PER_NUMBER_PER_HOUR: '1000000',
  OTP_MAX_PER_NUMBER_PER_HOUR: '1000000',
  OTP_RESEND_COOLDOWN: '0',
  OTP_MAX_RESENDS: '100',
};

// Started while the file is collected: the routes to fuzz are only known from the running app.
const gw: TestGateway = await startGateway(ENV);
await gw.app.ready();
// FUZZ_LOG=1 shows the gateway's own error log (the stack behind a 500).
if (process.env.FUZZ_LOG) gw.app.log.level = 'error';
const routes: DiscoveredRoute[] = discoverRoutes(gw.app);
const spec: any = (await gw.app.inject({ method: 'GET', url: '/openapi.json' })).json();
afterAll(async () => gw.stop());

// ---------------------------------------------------------------------------------------------
// Sending a request and judging the reply

interface Req {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: Buffer;
}

async function inject(req: Req): Promise<PlainResponse> {
  const res = await gw.app.inject({ method: req.method as InjectOptions['method'], url: req.url, headers: req.headers, payload: req.payload });
  return { status: res.statusCode, headers: res.headers, body: res.body };
}

/** Every way the reply breaks the rules; empty when it keeps them. */
function judge(res: PlainResponse, before: RowCounts, after: RowCounts, url: string): string[] {
  const out: string[] = [];
  if (res.status >= 500) out.push(`5xx: ${res.status} ${preview(res.body, 300)}`);
  if (res.status >= 400) {
    // The Twilio-compatible API answers in Twilio's error shape, which its SDKs parse, not problem+json.
    const defect = errorDefect(url, res);
    if (defect) out.push(`not a problem document (${res.status}): ${defect}`);
    const changes = rowChanges(before, after);
    if (changes.length > 0) out.push(`rows written by a rejected request (${res.status}): ${changes.join(', ')}; reply ${preview(res.body, 200)}`);
  }
  return out;
}

async function send(req: Req): Promise<{ res: PlainResponse; violations: string[] }> {
  const before = await countRows(gw.services.store.db);
  const res = await inject(req);
  const after = await countRows(gw.services.store.db);
  return { res, violations: judge(res, before, after, req.url) };
}

function describeReq(req: Req): string {
  const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${preview(v, 80)}`).join(', ');
  return `${req.method} ${preview(req.url, 200)} [${headers}] body ${preview(req.payload, 300)}`;
}

/** Asserts one request keeps the rules, naming the request when it does not. */
async function expectHandled(req: Req, opts: { expectError?: boolean } = {}): Promise<PlainResponse> {
  const { res, violations } = await send(req);
  if (opts.expectError && res.status < 400) violations.push(`expected a 4xx problem, got ${res.status} ${preview(res.body, 200)}`);
  if (violations.length > 0) expect.fail(`${violations.join('\n')}\n  request: ${describeReq(req)}`);
  return res;
}

const json = (method: string, url: string, body: unknown, headers: Record<string, string> = {}): Req => ({
  method, url, headers: { 'content-type': 'application/json', ...headers }, payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
});

// ---------------------------------------------------------------------------------------------
// Values: JSON with raw pieces a serializer would never write (invalid UTF-8, 1e400, deep nesting)

class Raw {
  constructor(readonly bytes: Buffer) {}
  toJSON() {
    return `<raw ${preview(this.bytes, 40)}>`;
  }
}
const raw = (s: string | number[]) => new Raw(typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s));

/** JSON text of a value that may hold Raw pieces; lone surrogates become \ud800 escapes, as JSON.stringify writes them. */
function serialize(value: unknown): Buffer {
  const parts: Buffer[] = [];
  const walk = (v: unknown) => {
    if (v instanceof Raw) parts.push(v.bytes);
    else if (Array.isArray(v)) {
      parts.push(Buffer.from('['));
      v.forEach((x, i) => {
        if (i > 0) parts.push(Buffer.from(','));
        walk(x);
      });
      parts.push(Buffer.from(']'));
    } else if (v !== null && typeof v === 'object') {
      parts.push(Buffer.from('{'));
      Object.entries(v).forEach(([k, x], i) => {
        if (i > 0) parts.push(Buffer.from(','));
        parts.push(Buffer.from(JSON.stringify(k) + ':'));
        walk(x);
      });
      parts.push(Buffer.from('}'));
    } else parts.push(Buffer.from(v === undefined ? 'null' : JSON.stringify(v)));
  };
  walk(value);
  return Buffer.concat(parts);
}

const INVALID_UTF8: number[][] = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xfe, 0xfe, 0xff]];
/** A JSON string whose bytes are not UTF-8 (a CESU-8 surrogate, overlong NUL, truncated sequences...). */
const badUtf8String = fc.constantFrom(...INVALID_UTF8).map((bytes) => new Raw(Buffer.concat([Buffer.from('"a'), Buffer.from(bytes), Buffer.from('b"')])));

const HUGE = [1_000, 70_000, 300_000].map((n) => 'x'.repeat(n));
const DATES_VALID = ['2024-01-15T10:00:00Z', '2099-01-01T00:00:00Z', '2020-01-01T00:00:00.000Z', new Date().toISOString()];
const DATES_HOSTILE = [
  '2016-12-31T23:59:60Z', '2024-02-30T00:00:00Z', '+275760-09-13T00:00:00Z', '9999-12-31T23:59:59.999Z', '0000-01-01T00:00:00Z',
  '2024-01-01T00:00:00+25:00', '2024-01-01T24:00:00Z', '2024-01-01', '1e20', '-1', '', 'tomorrow', '2024-01-01T00:00:00.123456789123Z',
];
const PHONES = [US, US2, '+447400123456', '+1234567890', '+', '00', '+999999999999999', 'abc', ' +1 415 555 2671 ', '+1415555267١', '\u0000', '(415) 555-2671', '+14155552671;ext=1', '+1'.repeat(16)];

const hostileScalar: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<unknown>(
    null, true, false, 0, -1, -0, 1.5, 1e20, -1e20, 2 ** 53 + 1, Number.MAX_VALUE, Number.MIN_VALUE, '', ' ', '0', '-1', '1e20', 'NaN', 'null', 'true',
    '99999999999999999999', '__proto__', 'constructor', 'toString', '\u0000', '\ud800', '\udfff', 'a\ud83d', '\u202e', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '😀'.repeat(100), '{{name}}', '{{',
    '}}{{', '{{otp}}', '{otp}', '%s%n', '../../etc/passwd', "' or 1=1 --", 'http://127.0.0.1:9/hook', 'file:///etc/passwd', ...DATES_HOSTILE, ...PHONES,
  ) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom(...HUGE) },
  { weight: 1, arbitrary: fc.constantFrom('1e400', '-1e400', '123456789012345678901234567890', '1E+20', '-0', '0.0000000000000000000001', '1e-400').map(raw) },
  { weight: 1, arbitrary: badUtf8String },
  { weight: 1, arbitrary: fc.constantFrom(10, 1_000, 20_000, 120_000).chain((d) => fc.constantFrom(raw(deepArrayJson(d)), raw(deepObjectJson(d)))) },
);

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: hostileScalar },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.array(hostileScalar, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'name', 'otp')), hostileScalar, { maxKeys: 4 }) },
);

// ---------------------------------------------------------------------------------------------
// Schema-shaped values: close enough to valid to get past validation, then broken in places

let seeds: { templateId: string; messageId: string; sentMessageId: string; batchId: string; draftBatchId: string; sessionId: string } | undefined;
const TEMPLATE_IDS = () => ['fuzz_tpl', 'nope', 'a'.repeat(64), seeds?.templateId ?? 'fuzz_tpl'];
const PROVIDERS = ['simulator', 'twilio', 'aws_sns', 'plivo', 'nexmo', 'vonage', 'clickatell', 'smpp', 'nope'];

function stringFor(name: string, schema: any): fc.Arbitrary<unknown> {
  if (schema.format === 'date-time') return fc.oneof(fc.constantFrom(...DATES_VALID), fc.constantFrom(...DATES_HOSTILE));
  if (schema.pattern === '^[A-Za-z]{2}$') return fc.constantFrom('US', 'GB', 'us', 'ZZ', 'XK');
  if (schema.pattern === '^[a-z0-9_-]{1,64}$' || name === 'template_id') return fc.constantFrom(...TEMPLATE_IDS());
  if (schema.pattern === '^[A-Za-z_][A-Za-z0-9_.-]*$') return fc.constantFrom('name', 'otp', 'expiry', 'code', 'a.b', 'x-y');
  if (/number|phone|^to$|^from/.test(name)) return fc.constantFrom(...PHONES);
  if (name === 'session_id') return fc.constantFrom(seeds?.sessionId ?? 'otp_x', 'otp_nope');
  if (name === 'provider') return fc.constantFrom(...PROVIDERS);
  if (name === 'otp_code') return fc.constantFrom('123456', '000000', '', 'abcdef');
  if (name === 'callback_url') return fc.constantFrom('https://example.com/hook', 'http://127.0.0.1:9/hook', 'not a url', 'ftp://x', 'http://[::1]/', 'http://169.254.169.254/');
  if (name === 'message' || name === 'content' || name === 'custom_message') {
    return fc.oneof(fc.constantFrom('hello', 'Hi {{name}}', 'Code {otp} valid {expiry}', 'Your code is {{otp}}', '0a0b', 'é€😀', '{{missing}}'), fc.string({ unit: 'grapheme', maxLength: 200 }));
  }
  return fc.string({ maxLength: 40 });
}

/** Values shaped by a JSON schema; `requiredOnly` leaves optional properties out (the likeliest valid bodies). */
function fromSchema(schema: any, name = '', depth = 0, requiredOnly = false): fc.Arbitrary<unknown> {
  const fromSchema_ = (s: any, n: string, d: number) => fromSchema(s, n, d, requiredOnly);
  if (!schema || typeof schema !== 'object' || depth > 6) return fc.jsonValue({ maxDepth: 2 });
  if (Array.isArray(schema.anyOf)) return fc.oneof(...schema.anyOf.map((s: any) => fromSchema_(s, name, depth + 1)));
  if (Array.isArray(schema.enum)) return fc.constantFrom(...schema.enum);
  switch (schema.type) {
    case 'string':
      return stringFor(name, schema);
    case 'integer': {
      const min = schema.minimum ?? -1000;
      const max = schema.maximum ?? 1000;
      return fc.oneof({ weight: 4, arbitrary: fc.integer({ min, max }) }, { weight: 1, arbitrary: fc.constantFrom(min - 1, max + 1, 0, 1.5, 1e20) });
    }
    case 'number':
      return fc.double();
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(fromSchema_(schema.items, name, depth + 1), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 4, requiredOnly ? 1 : 4) });
    case 'object': {
      const props: Record<string, any> = schema.properties ?? {};
      const required: string[] = schema.required ?? [];
      // `message` is optional in the schema only because template_id may stand in for it.
      const core = requiredOnly ? [...required, ...(keys0(props).includes('message') ? ['message'] : [])] : required;
      const keys = keys0(props).filter((k) => !requiredOnly || core.includes(k));
      const record = fc.record(Object.fromEntries(keys.map((k) => [k, fromSchema_(props[k], k, depth + 1)])), { requiredKeys: core });
      if (Object.keys(props).length === 0) {
        const values = schema.additionalProperties && typeof schema.additionalProperties === 'object' ? fromSchema_(schema.additionalProperties, name, depth + 1) : fc.jsonValue({ maxDepth: 3 });
        return fc.dictionary(fc.constantFrom('name', 'otp', 'a', 'campaign', '__proto__', 'x'), values, { maxKeys: 4 });
      }
      return record;
    }
    default:
      return fc.jsonValue({ maxDepth: 3 });
  }
}

const keys0 = (o: Record<string, unknown>) => Object.keys(o);

/** Every place in a value a hostile value can go: the paths of all nodes. */
function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (value instanceof Raw) return out;
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  return out;
}

/** `value` with some nodes replaced by hostile values, some keys deleted or added. */
function clone(value: unknown): unknown {
  if (value instanceof Raw) return value;
  if (Array.isArray(value)) return value.map(clone);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clone(v)]));
  return value;
}

function mutate(value: unknown, edits: Array<[number, 'set' | 'delete' | 'add', unknown]>): unknown {
  let root = clone(value);
  for (const [at, op, replacement] of edits) {
    const all = paths(root);
    const path = all[at % all.length];
    if (path.length === 0) {
      if (op === 'set') root = replacement;
      continue;
    }
    const parent = path.slice(0, -1).reduce((o: any, k) => o[k], root) as any;
    const key = path[path.length - 1];
    // defineProperty: a key named __proto__ stays a plain key.
    const put = (k: string | number, v: unknown) => Object.defineProperty(parent, k, { value: v, enumerable: true, writable: true, configurable: true });
    if (op === 'delete' && !Array.isArray(parent)) delete parent[key];
    else if (op === 'add' && !Array.isArray(parent)) put(`extra_${String(key)}`, replacement);
    else put(key, replacement);
  }
  return root;
}

function mutated(arb: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const edit = fc.tuple(fc.nat(), fc.constantFrom<'set' | 'delete' | 'add'>('set', 'set', 'set', 'delete', 'add'), hostileValue);
  return fc.oneof(
    { weight: 1, arbitrary: arb },
    { weight: 3, arbitrary: fc.tuple(arb, fc.array(edit, { minLength: 1, maxLength: 3 })).map(([v, edits]) => mutate(v, edits)) },
  );
}

// ---------------------------------------------------------------------------------------------
// Requests

const CONTENT_TYPES = [
  'application/json; charset=utf-8', 'application/json; charset=latin1', 'application/json;charset=UTF-16', 'APPLICATION/JSON', 'application/json, text/html',
  'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/problem+json', 'application/vnd.api+json', 'application/xml',
  '*/*', 'application/', ';', '', 'application/json; charset=', 'application/json; boundary="', 'application/jsonx',
];
const headerText = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });

const headersArb: fc.Arbitrary<Record<string, string>> = fc.record({
  'content-type': fc.oneof({ weight: 8, arbitrary: fc.constant('application/json') }, { weight: 3, arbitrary: fc.constantFrom(...CONTENT_TYPES) }, { weight: 1, arbitrary: headerText(40) }),
  'idempotency-key': fc.oneof(headerText(300), fc.constantFrom('k1', 'fuzz', ' ', 'x'.repeat(255), 'x'.repeat(256), 'x'.repeat(4000))),
  authorization: fc.oneof(fc.constantFrom('Bearer ', 'Bearer x', 'Basic Og==', 'Bearer ' + 'a'.repeat(2000), 'Digest'), headerText(100)),
  'x-api-key': headerText(100),
  'x-webhook-signature': fc.oneof(fc.constantFrom('sha256=', 'sha256=00', 't=1,v1=00', 'sha256=' + '0'.repeat(64)), headerText(100)),
  'x-simulator-signature': headerText(80),
  accept: fc.constantFrom('application/json', 'text/html', '*/*', 'application/xml', ''),
}, { requiredKeys: [] });

const RAW_PATH_VALUES = ['%', '%Z', '%ZZ', '%ED%A0%80', '%C0%80', '%FF', '%E2%82', '%00', '%2F', '%2e%2e', '..', '.', '%20', '%25', '%u0041', '%%', '%F0%9F%98%80'];
const lengths = [99, 100, 101, 255, 1_000, 8_000];

function pathValueArb(param: string): fc.Arbitrary<string> {
  const known = () => {
    const s = seeds;
    if (param === 'provider') return PROVIDERS;
    if (param === 'template_id') return TEMPLATE_IDS();
    if (param === 'phone_number') return PHONES.map(encodeURIComponent);
    return [s?.messageId, s?.sentMessageId, s?.batchId, s?.draftBatchId, s?.sessionId, 'msg_nope', 'bat_nope'].filter((x): x is string => typeof x === 'string');
  };
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(null).chain(() => fc.constantFrom(...known())) },
    { weight: 2, arbitrary: fc.constantFrom(...RAW_PATH_VALUES) },
    { weight: 1, arbitrary: fc.constantFrom(...lengths).map((n) => 'a'.repeat(n)) },
    { weight: 1, arbitrary: fc.constantFrom(30, 60, 200).map((n) => encodeURIComponent('é'.repeat(n))) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).map(encodeURIComponent) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).map((s) => percentEncodeAny(s)) },
  );
}

/** Percent-encodes UTF-16 as CESU-8 when it holds lone surrogates (encodeURIComponent would throw). */
function percentEncodeAny(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return [...Buffer.from(s.replace(/[\ud800-\udfff]/g, '\ud7ff'), 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('').replace(/%ed%9f%bf/g, '%ED%A0%80');
  }
}

const QUERY_VALUES = [
  '1e20', '-1', 'NaN', 'Infinity', '99999999999999999999', '1.5', '0x10', '', ' ', 'true', 'false', 'null', '0', '1', '50', '500', '501', '9007199254740993',
  ...DATES_VALID, ...DATES_HOSTILE, 'delivered', 'bogus', 'hour', 'day', 'simulator', US, 'x'.repeat(5_000), '__proto__',
];

function queryArb(route: DiscoveredRoute): fc.Arbitrary<string> {
  const op = operation(route);
  const names: string[] = (op?.parameters ?? []).filter((p: any) => p.in === 'query').map((p: any) => p.name);
  const key = fc.oneof({ weight: 4, arbitrary: names.length > 0 ? fc.constantFrom(...names) : fc.constantFrom('limit', 'offset') }, { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'limit[]', 'a[b]', '', 'x') });
  const value = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...QUERY_VALUES).map(encodeURIComponent) },
    { weight: 1, arbitrary: fc.constantFrom(...RAW_PATH_VALUES) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent) },
  );
  const pair = fc.tuple(key, value).map(([k, v]) => `${encodeURIComponent(k)}=${v}`);
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant('') },
    { weight: 4, arbitrary: fc.array(pair, { minLength: 1, maxLength: 5 }).map((ps) => `?${ps.join('&')}`) },
    { weight: 1, arbitrary: fc.constantFrom('?', '??', '?&&&', '?=', '?limit', '?limit=1&limit=2', '?offset=1&offset=x', '?%=1', '?a=%ZZ') },
  );
}

function openapiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function operation(route: DiscoveredRoute): any {
  return spec?.paths?.[openapiPath(route.url)]?.[route.method.toLowerCase()];
}

/** Provider-native reports have no schema in /openapi.json (each provider parses its own): the simulator's shape. */
const simulatorReport = fc.record({
  message_sid: fc.oneof(fc.constantFrom('sim_x', 'sim_nope'), fc.string({ maxLength: 30 })),
  client_ref: fc.constant(null).chain(() => fc.constantFrom(seeds?.sentMessageId ?? 'msg_x', seeds?.messageId ?? 'msg_x', 'msg_nope')),
  status: fc.constantFrom('delivered', 'undelivered', 'failed', 'sent', 'queued', 'canceled', 'bogus'),
  error_code: fc.oneof(fc.constant(null), fc.string({ maxLength: 10 }), fc.integer()),
  timestamp: fc.constantFrom(...DATES_VALID, ...DATES_HOSTILE),
}, { requiredKeys: ['message_sid', 'status'] });
const EXTRA_SHAPES: Array<[RegExp, fc.Arbitrary<unknown>]> = [
  [/^\/api\/webhooks\//, fc.oneof(simulatorReport, fc.array(simulatorReport, { maxLength: 5 }))],
];

function bodyArb(route: DiscoveredRoute): fc.Arbitrary<Buffer | undefined> {
  const schema = operation(route)?.requestBody?.content?.['application/json']?.schema;
  const extra = EXTRA_SHAPES.find(([pattern]) => pattern.test(route.url))?.[1];
  const base = schema ? fc.oneof(fromSchema(schema), fromSchema(schema, '', 0, true)) : extra ?? hostileValue;
  const shaped = mutated(base);
  return fc.oneof(
    { weight: 6, arbitrary: shaped.map(serialize) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 6 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', '{', '{"a":1}{', '\ufeff{}', '{"to":[', '[]', '"x"', '1e400', 'NaN', '{"a":1,}', "{'a':1}", 'a=1&b=2').map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

function requestArb(route: DiscoveredRoute): fc.Arbitrary<Req> {
  const pathValues = fc.tuple(...route.params.map(pathValueArb));
  const method = fc.oneof({ weight: 9, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS') });
  return fc.record({ method, values: route.params.length > 0 ? pathValues : fc.constant([] as string[]), query: queryArb(route), headers: headersArb, payload: bodyArb(route) })
    .map(({ method, values, query, headers, payload }) => {
      let i = 0;
      const path = route.url.replace(/:([A-Za-z0-9_]+)/g, () => values[i++]);
      const h = { ...headers };
      if (payload === undefined) delete h['content-type'];
      return { method, url: path + query, headers: h, payload };
    });
}

/** Fresh things for the fuzzer to aim at: a template, a message, a batch, a draft batch, an OTP session. */
async function seed(): Promise<void> {
  const tpl = await inject(json('POST', '/api/templates', { id: 'fuzz_tpl', name: 'fuzz', content: 'Hi {{name}}, code {{otp}}' }));
  expect([201, 409]).toContain(tpl.status);
  const sent = await inject(json('POST', '/api/sms/send', { to: [{ number: US }], message: 'seed' }));
  expect(sent.status, sent.body).toBe(200);
  const draft = await inject(json('POST', '/api/sms/send-batch', { recipients: [{ number: US2 }], message: 'draft', send_immediately: false }));
  expect(draft.status, draft.body).toBe(200);
  const otp = await inject(json('POST', '/api/otp/generate', { phone_number: { number: US2 } }));
  expect(otp.status, otp.body).toBe(200);
  // One message handed to the simulator (status sent), so delivery reports for it are accepted.
  for (const provider of gw.services.router.all()) await gw.services.dispatcher.dispatchOnce(provider);
  const queued = await inject(json('POST', '/api/sms/send', { to: [{ number: US }], message: 'seed' }));
  expect(queued.status, queued.body).toBe(200);
  const s = JSON.parse(queued.body);
  seeds = { templateId: 'fuzz_tpl', messageId: s.messages[0].id, sentMessageId: JSON.parse(sent.body).messages[0].id, batchId: s.batch_id, draftBatchId: JSON.parse(draft.body).batch_id, sessionId: JSON.parse(otp.body).session_id };
}

// ---------------------------------------------------------------------------------------------

describe('the harness', () => {
  it('discovers every documented route, and more than a handful', () => {
    const found = new Set(routes.map((r) => `${r.method} ${openapiPath(r.url)}`));
    const documented = Object.entries<any>(spec.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(documented.length).toBeGreaterThan(10);
    for (const d of documented) expect(found, d).toContain(d);
    expect(routes.some((r) => r.url.startsWith('/docs'))).toBe(false);
  });

  it('sees a valid request succeed, its rows counted, and a real 422 as a proper problem', async () => {
    const before = await countRows(gw.services.store.db);
    // Two recipients: a one-recipient send stores no batch row, and the harness should see one counted.
    const ok = await inject(json('POST', '/api/sms/send', { to: [{ number: US }, { number: US2 }], message: 'valid' }, { 'idempotency-key': `valid-${Date.now()}` }));
    expect(ok.status).toBe(200);
    const after = await countRows(gw.services.store.db);
    expect(rowChanges(before, after)).toEqual(expect.arrayContaining([expect.stringMatching(/^messages:/), expect.stringMatching(/^batches:/), expect.stringMatching(/^idempotency_keys:/)]));
    const bad = await send(json('POST', '/api/sms/send', { to: [{ number: 'abc' }], message: 'x' }));
    expect(bad.res.status).toBe(422);
    expect(bad.violations).toEqual([]);
    // The raw serializer writes what JSON.stringify writes for plain values.
    const value = { a: [1, 'x', null, { b: '\ud800' }], c: true };
    expect(serialize(value).toString()).toBe(JSON.stringify(value));
  });

  it('gets a schema-shaped body past validation for each route with a body', async () => {
    await seed();
    // Unmutated shaped bodies are sometimes valid: across a few tries each body route answers 2xx at least once.
    for (const route of routes.filter((r) => operation(r)?.requestBody)) {
      const schema = operation(route).requestBody.content['application/json'].schema;
      const samples = [...fc.sample(fromSchema(schema, '', 0, true), { numRuns: 30, seed: 42 }), ...fc.sample(fromSchema(schema), { numRuns: 60, seed: 42 })];
      let statuses: number[] = [];
      const replies: string[] = [];
      for (const body of samples) {
        const url = route.url.replace(/:([A-Za-z0-9_]+)/g, (_m, p: string) => (p === 'template_id' ? 'fuzz_tpl' : p === 'provider' ? 'simulator' : route.url.endsWith('/webhook') ? seeds!.sentMessageId : seeds!.messageId));
        const res = await inject({ method: route.method, url, headers: { 'content-type': 'application/json' }, payload: serialize(body) });
        statuses.push(res.status);
        replies.push(`${serialize(body).toString().slice(0, 200)} -> ${res.status} ${res.body.slice(0, 200)}`);
        if (res.status < 300) break;
      }
      statuses = [...new Set(statuses)];
      expect(statuses.some((s) => s < 300), `${route.method} ${route.url}: ${statuses}\n${replies.slice(0, 8).join('\n')}`).toBe(true);
    }
  });
});

describe('fuzzing every route', () => {
  beforeEach(seed);

  for (const route of routes) {
    it(`${route.method} ${route.url}: status < 500, problem+json errors, no rows for a rejected request`, async () => {
      const seen = new Map<string, string>();
      await fc.assert(
        fc.asyncProperty(requestArb(route), async (req) => {
          let outcome: { res: PlainResponse; violations: string[] };
          try {
            outcome = await send(req);
          } catch (err) {
            outcome = { res: { status: 0, headers: {}, body: '' }, violations: [`inject threw: ${(err as Error).message}`] };
          }
          for (const v of outcome.violations) {
            // One example per kind of violation (status and the start of the reply) per route.
            const kind = v.replace(/"detail":"([^"]{0,40})[^"]*"/, '"detail":"$1"').replace(/\d{3,}/g, 'N').slice(0, 160);
            if (!seen.has(kind)) seen.set(kind, `${v}\n    request: ${describeReq(req)}`);
          }
        }),
        { numRuns: RUNS, seed: SEED },
      );
      const report = [...seen.values()];
      if (report.length > 0) expect.fail(`${report.length} kind(s) of violation (FUZZ_SEED=${SEED} replays this run):\n${report.join('\n')}`);
    }, 120_000);
  }
});

// ---------------------------------------------------------------------------------------------
// Named examples, one per known defect

describe("Fastify's own errors are problem documents", () => {
  it.each([
    ['a path parameter over 100 characters (today 414 application/json)', `/api/sms/${'a'.repeat(101)}`],
    ['a path parameter of 8,000 characters', `/api/sms/${'a'.repeat(8_000)}`],
    ['a template id over 100 characters', `/api/templates/${'a'.repeat(101)}/versions`],
    ['a lone % in the path (FST_ERR_BAD_URL)', '/api/sms/%'],
    ['%ZZ in the path (FST_ERR_BAD_URL)', '/api/sms/%ZZ'],
    ['a CESU-8 surrogate %ED%A0%80 in the phone number (FST_ERR_BAD_URL)', '/api/phone/validate/%ED%A0%80'],
    ['an overlong NUL %C0%80 in the path', '/api/otp/sessions/%C0%80'],
  ])('%s', async (_name, url) => {
    const res = await expectHandled({ method: 'GET', url, headers: {} }, { expectError: true });
    expect(res.status).toBeLessThan(500);
  });

  it('a bad escape in a POST path writes nothing', async () => {
    await expectHandled({ method: 'POST', url: '/api/sms/%ZZ/cancel', headers: {} }, { expectError: true });
    await expectHandled(json('POST', `/api/sms/${'a'.repeat(101)}/webhook`, { status: 'delivered' }), { expectError: true });
  });

  it('a 20 kB Idempotency-Key over real HTTP (today a bare 431 application/json)', async () => {
    const listening = await startGateway();
    try {
      await listening.app.listen({ port: 0, host: '127.0.0.1' });
      const port = (listening.app.server.address() as { port: number }).port;
      const before = await countRows(listening.services.store.db);
      const res = await httpRequest(port, {
        method: 'POST', path: '/api/sms/send', headers: { 'content-type': 'application/json', 'idempotency-key': 'k'.repeat(20_000) },
        body: JSON.stringify({ to: [{ number: US }], message: 'x' }),
      });
      const after = await countRows(listening.services.store.db);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(problemDefect(res), `${res.status} ${res.headers['content-type']} ${preview(res.body)}`).toBeUndefined();
      expect(rowChanges(before, after)).toEqual([]);
      // A key of 256 characters is over the schema's 255 and refused as a problem too.
      const long = await httpRequest(port, {
        method: 'POST', path: '/api/sms/send', headers: { 'content-type': 'application/json', 'idempotency-key': 'k'.repeat(256) },
        body: JSON.stringify({ to: [{ number: US }], message: 'x' }),
      });
      expect(long.status).toBe(422);
      expect(problemDefect(long)).toBeUndefined();
    } finally {
      await listening.stop();
    }
  });
});

describe('malformed bodies', () => {
  it.each([
    ['truncated JSON', '{"to": ['],
    ['two documents', '{"to":[{"number":"+14155552671"}],"message":"x"}{}'],
    ['a trailing comma', '{"to":[{"number":"+14155552671"}],"message":"x",}'],
    ['single quotes', "{'to':[]}"],
    ['a byte-order mark', '\ufeff{"to":[{"number":"+14155552671"}],"message":"x"}'],
    ['NaN', '{"to":[{"number":"+14155552671"}],"message":"x","priority":NaN}'],
  ])('%s is a 400 problem', async (_name, body) => {
    const res = await expectHandled(json('POST', '/api/sms/send', body), { expectError: true });
    expect(res.status).toBe(400);
  });

  it('invalid UTF-8 bytes in a string are refused or replaced, never a 500, never stored as given', async () => {
    for (const bytes of INVALID_UTF8) {
      const payload = Buffer.concat([Buffer.from('{"to":[{"number":"+14155552671"}],"message":"a'), Buffer.from(bytes), Buffer.from('b"}')]);
      await expectHandled({ method: 'POST', url: '/api/sms/send', headers: { 'content-type': 'application/json' }, payload });
    }
  });

  it('a lone surrogate in a string is never a 500', async () => {
    for (const s of ['\\ud800', '\\udfff', 'a\\ud83d', '\\udc00\\ud800']) {
      await expectHandled(json('POST', '/api/sms/send', `{"to":[{"number":"+14155552671"}],"message":"${s}"}`));
      await expectHandled(json('POST', '/api/templates', `{"name":"${s}","content":"Hi ${s} {{name}}"}`));
      await expectHandled(json('POST', '/api/otp/generate', `{"phone_number":{"number":"+14155552671"},"custom_message":"${s} {otp}"}`));
    }
  });

  it.each([
    ['text/plain'], ['application/x-www-form-urlencoded'], ['multipart/form-data; boundary=x'], ['application/xml'], ['application/jsonx'], ['application/problem+json'],
  ])('content-type %s on send is a 4xx problem that writes nothing', async (type) => {
    const req = json('POST', '/api/sms/send', { to: [{ number: US }], message: 'x' }, { 'content-type': type });
    await expectHandled(req, { expectError: true });
  });

  it('a body without content-type is a 4xx problem', async () => {
    await expectHandled({ method: 'POST', url: '/api/sms/send', headers: {}, payload: Buffer.from(JSON.stringify({ to: [{ number: US }], message: 'x' })) }, { expectError: true });
  });

  it('a body over 5 MB is a 413 problem', async () => {
    const res = await expectHandled(json('POST', '/api/sms/send', { to: [{ number: US }], message: 'x'.repeat(6 * 1024 * 1024) }), { expectError: true });
    expect(res.status).toBe(413);
  });

  it.each([
    ['send', '/api/sms/send', (deep: string) => `{"to":[{"number":"${US}"}],"message":"x","metadata":{"a":${deep}}}`],
    ['send-batch', '/api/sms/send-batch', (deep: string) => `{"recipients":[{"number":"${US}"}],"message":"x","metadata":{"a":${deep}}}`],
    ['otp/generate', '/api/otp/generate', (deep: string) => `{"phone_number":{"number":"${US2}"},"metadata":{"a":${deep}}}`],
    ['templates', '/api/templates', (deep: string) => `{"name":"deep","content":"x","category":${deep}}`],
    ['template render', '/api/templates/fuzz_tpl/render', (deep: string) => `{"variables":{"name":${deep}}}`],
    ['message webhook', '/api/sms/msg_x/webhook', (deep: string) => `{"status":"delivered","error_code":${deep}}`],
    ['simulator webhook', '/api/webhooks/simulator', (deep: string) => `{"message_sid":${deep},"status":"delivered"}`],
  ])('metadata (or a field) nested 100,000 deep on %s is a 4xx problem (today "Maximum call stack size exceeded" 500)', async (_name, url, build) => {
    await seed();
    await expectHandled(json('POST', url, build(deepObjectJson(100_000))), { expectError: true });
    await expectHandled(json('POST', url, build(deepArrayJson(100_000))), { expectError: true });
  });

  it('a whole body nested 100,000 deep is a 4xx problem', async () => {
    for (const route of routes.filter((r) => r.method === 'POST' || r.method === 'PUT')) {
      const url = route.url.replace(/:([A-Za-z0-9_]+)/g, (_m, p: string) => (p === 'provider' ? 'simulator' : p === 'template_id' ? 'fuzz_tpl' : 'x'));
      await expectHandled(json(route.method, url, deepArrayJson(100_000)), { expectError: true });
    }
  });
});

describe('query strings', () => {
  it.each([
    ['/api/sms?offset=99999999999999999999'],
    ['/api/sms?offset=1e20'],
    ['/api/sms?limit=1e20'],
    ['/api/sms?offset=9007199254740993'],
    ['/api/templates?offset=99999999999999999999'],
    ['/api/templates?offset=1e20'],
    ['/api/simulator/outbox?offset=1e20'],
    ['/api/sms?date_from=2016-12-31T23:59:60Z'],
    ['/api/sms?date_to=2016-12-31T23:59:60Z'],
    ['/api/analytics/stats?date_from=2016-12-31T23:59:60Z'],
    ['/api/analytics/stats?date_to=2016-12-31T23:59:60Z'],
    ['/api/sms?date_from=%2B275760-09-13T00:00:00Z'],
    ['/api/analytics/stats?date_from=0000-01-01T00:00:00Z&group_by=day'],
    ['/api/sms?limit=1&limit=2'],
    ['/api/sms?offset=-1'],
    ['/api/sms?limit=NaN'],
    ['/api/sms?to=%ZZ'],
    ['/api/sms?to=%ED%A0%80'],
    ['/api/templates?search=%'],
  ])('%s is never a 500', async (url) => {
    await expectHandled({ method: 'GET', url, headers: {} });
  });
});

describe('provider webhooks', () => {
  it('POST /api/webhooks/simulator with 40,000 reports is never a 500 (today "too many SQL variables")', async () => {
    const reports = Array.from({ length: 40_000 }, (_, i) => ({ message_sid: `sim_${i}`, client_ref: `msg_${i}`, status: 'delivered', timestamp: new Date().toISOString() }));
    await expectHandled(json('POST', '/api/webhooks/simulator', reports));
  }, 60_000);

  it('a single valid-shaped report for an unknown message is handled (control)', async () => {
    const res = await expectHandled(json('POST', '/api/webhooks/simulator', { message_sid: 'sim_none', client_ref: 'msg_none', status: 'delivered' }));
    expect(res.status).toBeLessThan(500);
  });
});
