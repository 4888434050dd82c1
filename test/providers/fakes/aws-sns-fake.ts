/**
 * A loopback Amazon SNS endpoint for the Publish action, as the SNS API reference documents it:
 * - query protocol: form POST to `/` with `Action=Publish&Version=2010-03-31`, `PhoneNumber`,
 *   `Message`, `MessageAttributes.entry.N.Name` / `.Value.DataType` / `.Value.StringValue`
 *   https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
 *   https://docs.aws.amazon.com/sns/latest/dg/sms_publish-to-phone.html (SMS attributes and their data types)
 * - answers: `<PublishResponse><PublishResult><MessageId>` and `<ErrorResponse><Error><Type><Code><Message>`
 *   https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html
 * - every request must carry a valid Signature Version 4, recomputed here from the canonical request:
 *   https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 *   (checked against AWS's published test-suite vectors in test/providers/aws-sns.test.ts)
 */
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PublishSeen {
  phoneNumber: string | undefined;
  message: string | undefined;
  /** MessageAttributes by name, as decoded from the `entry.N` fields. */
  attributes: Record<string, { dataType: string; stringValue: string | undefined }>;
}

export interface SnsFakeRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  form: Record<string, string>;
  /** The access key and scope the Authorization header names, once its signature checked out. */
  credentialScope: string | undefined;
  publish: PublishSeen | undefined;
}

export type SnsReply =
  | { kind: 'published'; messageId?: string }
  | { kind: 'error'; status: number; code: string; message: string; type?: 'Sender' | 'Receiver' }
  /** Raw bytes, for answers no SNS would give (a proxy's page, a broken body). */
  | { kind: 'raw'; status: number; contentType: string; body: string }
  /** Takes the request and never answers. */
  | { kind: 'silent' };

export interface SnsFakeOptions {
  /** The one key pair the fake account accepts. */
  accessKeyId?: string;
  secretAccessKey?: string;
  region?: string;
  /** How to answer a well-formed, correctly signed Publish; default: published with a fresh id. */
  reply?: (publish: PublishSeen) => SnsReply;
}

export interface SnsFake {
  url: string;
  /** Every request that reached the fake, valid or not, in arrival order. */
  requests: SnsFakeRequest[];
  close(): Promise<void>;
}

export const FAKE_ACCESS_KEY_ID = 'AKIAFAKESNS0000000001';
export const FAKE_SECRET_ACCESS_KEY = 'fake/sns/secret/key/for/loopback/tests0001';

/** Documented SNS error answers (status, code, message as SNS words them). */
export const snsErrors = {
  invalidPhoneNumber: (number: string): SnsReply => ({
    kind: 'error', status: 400, code: 'InvalidParameter', message: `Invalid parameter: PhoneNumber Reason: ${number} is not valid to publish to`,
  }),
  invalidParameter: (what: string): SnsReply => ({ kind: 'error', status: 400, code: 'InvalidParameter', message: `Invalid parameter: ${what}` }),
  throttled: (): SnsReply => ({
    kind: 'error', status: 429, code: 'Throttled',
    message: 'Indicates that the rate at which requests have been submitted for this action exceeds the limit for your Amazon Web Services account.',
  }),
  throttling: (): SnsReply => ({ kind: 'error', status: 400, code: 'Throttling', message: 'Rate exceeded' }),
  internalError: (): SnsReply => ({ kind: 'error', status: 500, code: 'InternalError', message: 'Internal Error', type: 'Receiver' }),
};

export async function startSnsFake(options: SnsFakeOptions = {}): Promise<SnsFake> {
  const account = {
    accessKeyId: options.accessKeyId ?? FAKE_ACCESS_KEY_ID,
    secretAccessKey: options.secretAccessKey ?? FAKE_SECRET_ACCESS_KEY,
    region: options.region ?? 'us-east-1',
  };
  const reply = options.reply ?? (() => ({ kind: 'published' }) as const);
  const requests: SnsFakeRequest[] = [];

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      const form = Object.fromEntries(new URLSearchParams(rawBody));
      const seen: SnsFakeRequest = {
        method: req.method ?? '', path: req.url ?? '', headers: req.headers, rawBody, form, credentialScope: undefined, publish: undefined,
      };
      requests.push(seen);

      const signature = verifySignature(req.method ?? '', req.url ?? '', req.headers, chunks, account);
      if (!signature.ok) return answer(res, signature.refusal);
      seen.credentialScope = signature.scope;

      if (req.method !== 'POST' || !(req.url === '/' || req.url?.startsWith('/?'))) {
        return answer(res, { kind: 'error', status: 404, code: 'NotFound', message: `no such resource ${req.method} ${req.url}` });
      }
      if (!String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
        return answer(res, { kind: 'error', status: 400, code: 'MissingAction', message: 'the query protocol takes a form body' });
      }
      if (form.Action !== 'Publish') return answer(res, { kind: 'error', status: 400, code: 'InvalidAction', message: `no action ${form.Action}` });
      if (form.Version !== '2010-03-31') return answer(res, { kind: 'error', status: 400, code: 'InvalidParameterValue', message: 'Version' });

      const publish = readPublish(form);
      if (typeof publish === 'string') return answer(res, snsErrors.invalidParameter(publish));
      seen.publish = publish;
      return answer(res, reply(publish));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const DATA_TYPES = /^(String|Number|Binary|String\.Array)(\..+)?$/;

/** The Publish fields, or the reason they are not a valid Publish. */
function readPublish(form: Record<string, string>): PublishSeen | string {
  if (!form.Message) return 'Message Reason: no value for required parameter';
  if (!form.PhoneNumber && !form.TopicArn && !form.TargetArn) return 'TopicArn or TargetArn Reason: no value for required parameter';
  const attributes: PublishSeen['attributes'] = {};
  for (let n = 1; form[`MessageAttributes.entry.${n}.Name`] !== undefined; n++) {
    const name = form[`MessageAttributes.entry.${n}.Name`];
    const dataType = form[`MessageAttributes.entry.${n}.Value.DataType`];
    const stringValue = form[`MessageAttributes.entry.${n}.Value.StringValue`];
    if (!dataType || !DATA_TYPES.test(dataType)) return `The message attribute '${name}' has an invalid message attribute type`;
    if (dataType.startsWith('Number') && !/^-?\d+(\.\d+)?$/.test(stringValue ?? '')) return `Value ${stringValue} for ${name} is not a number`;
    attributes[name] = { dataType, stringValue };
  }
  return { phoneNumber: form.PhoneNumber, message: form.Message, attributes };
}

function answer(res: ServerResponse, reply: SnsReply): void {
  const requestId = randomUUID();
  if (reply.kind === 'silent') return;
  if (reply.kind === 'raw') {
    res.writeHead(reply.status, { 'content-type': reply.contentType, 'x-amzn-requestid': requestId }).end(reply.body);
    return;
  }
  const xml = reply.kind === 'published'
    ? `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${reply.messageId ?? randomUUID()}</MessageId>`
      + `</PublishResult><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></PublishResponse>`
    : `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>${reply.type ?? 'Sender'}</Type>`
      + `<Code>${escapeXml(reply.code)}</Code><Message>${escapeXml(reply.message)}</Message></Error>`
      + `<RequestId>${requestId}</RequestId></ErrorResponse>`;
  res.writeHead(reply.kind === 'published' ? 200 : reply.status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId }).end(xml);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// --- Signature Version 4, recomputed independently of the SDK's signer ---

export interface SigV4Input {
  method: string;
  /** Path and query as sent. */
  url: string;
  /** Lower-case names; repeated headers joined with commas, as node gives them. */
  headers: Record<string, string>;
  signedHeaders: string[];
  payloadSha256: string;
  amzDate: string;
  region: string;
  service: string;
  secretAccessKey: string;
}

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
const MAX_SKEW_MS = 15 * 60_000;

type SignatureCheck = { ok: true; scope: string } | { ok: false; refusal: SnsReply };

function verifySignature(
  method: string, url: string, headers: IncomingHttpHeaders, body: Buffer[],
  account: { accessKeyId: string; secretAccessKey: string; region: string },
): SignatureCheck {
  const refuse = (status: number, code: string, message: string): SignatureCheck => ({ ok: false, refusal: { kind: 'error', status, code, message } });
  const authorization = String(headers.authorization ?? '');
  if (!authorization) return refuse(403, 'MissingAuthenticationToken', 'Request is missing Authentication Token');
  const m = AUTHORIZATION.exec(authorization);
  const amzDate = String(headers['x-amz-date'] ?? '');
  if (!m || !/^\d{8}T\d{6}Z$/.test(amzDate)) return refuse(400, 'IncompleteSignature', 'Authorization header or x-amz-date malformed');
  const [, accessKeyId, date, region, service, signedHeaderList, signature] = m;
  if (accessKeyId !== account.accessKeyId) return refuse(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
  if (date !== amzDate.slice(0, 8) || region !== account.region || service !== 'sns') {
    return refuse(403, 'SignatureDoesNotMatch', `Credential should be scoped to a valid region and service: ${date}/${region}/${service}`);
  }
  const at = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
  if (Math.abs(Date.now() - at) > MAX_SKEW_MS) return refuse(400, 'RequestExpired', 'Signature expired');
  const signedHeaders = signedHeaderList.split(';');
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-amz-date')) return refuse(403, 'SignatureDoesNotMatch', 'host and x-amz-date must be signed');
  const payloadSha256 = createHash('sha256').update(Buffer.concat(body)).digest('hex');
  const claimed = headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed !== payloadSha256) return refuse(400, 'XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(',') : value;
  const expected = sigV4Signature({
    method, url, headers: flat, signedHeaders, payloadSha256, amzDate, region, service, secretAccessKey: account.secretAccessKey,
  });
  if (expected !== signature) {
    return refuse(403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
  }
  return { ok: true, scope: `${accessKeyId}/${date}/${region}/${service}/aws4_request` };
}

/** Hex signature of a request: canonical request → string to sign → HMAC chain from the secret. */
export function sigV4Signature(input: SigV4Input): string {
  const [path, query = ''] = input.url.split('?', 2);
  const canonicalHeaders = [...input.signedHeaders].sort()
    .map((name) => `${name}:${(input.headers[name] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonicalRequest = [
    input.method,
    canonicalUri(path),
    canonicalQuery(query),
    canonicalHeaders,
    [...input.signedHeaders].sort().join(';'),
    input.payloadSha256,
  ].join('\n');
  const scope = `${input.amzDate.slice(0, 8)}/${input.region}/${input.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', input.amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  let key: Buffer = Buffer.from(`AWS4${input.secretAccessKey}`);
  for (const part of [input.amzDate.slice(0, 8), input.region, input.service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

/** RFC 3986 encoding: everything but A-Z a-z 0-9 - _ . ~ */
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

// Services other than S3 encode each path segment twice: once to send it, once more for the canonical form.
function canonicalUri(path: string): string {
  return path.split('/').map(uriEncode).join('/') || '/';
}

function canonicalQuery(query: string): string {
  if (!query) return '';
  return query.split('&').map((pair) => {
    const [name, value = ''] = pair.split('=', 2);
    return [uriEncode(decodeURIComponent(name.replace(/\+/g, ' '))), uriEncode(decodeURIComponent(value.replace(/\+/g, ' ')))];
  }).sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0)).map(([n, v]) => `${n}=${v}`).join('&');
}
