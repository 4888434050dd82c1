import type { SendOutcome } from './provider.js';

/** The fetch the HTTP clients use; injected so tests can assert the exact request. */
export type Fetch = typeof fetch;

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/**
 * Errors raised before a single byte of the request could reach the provider: the message
 * was certainly not taken, so it may go to the next provider at once.
 */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED',
]);

function errorCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

/**
 * What a failed fetch means for the message: refused or unresolvable before the request was
 * written is `retry` (not taken); a timeout, a reset or anything else after that is `unknown`
 * (the provider may have taken it), which is never resent blindly or failed over.
 */
export function transportOutcome(err: unknown): SendOutcome {
  const code = errorCode(err);
  const message = (err as Error)?.message ?? String(err);
  if (code !== undefined && NOT_SENT_CODES.has(code)) return { kind: 'retry', code: 'PROVIDER_UNREACHABLE', message: `${code}: ${message}` };
  const name = (err as Error)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return { kind: 'unknown', code: 'PROVIDER_TIMEOUT', message: 'no answer before the timeout' };
  return { kind: 'unknown', code: 'PROVIDER_ERROR', message: code ? `${code}: ${message}` : message };
}

/** Seconds or an HTTP date, as `Retry-After` may carry either. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get('retry-after');
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.ceil(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The shared meaning of an HTTP error answer, which every client uses after reading the
 * provider's own error fields: 429 and 5xx were not taken (retry, failover); 401/403 are our
 * credentials or account, not the message (retry elsewhere); other 4xx are the message's
 * fault (rejected, final).
 */
export function httpErrorOutcome(answer: HttpAnswer, detail: { message?: string; providerErrorCode?: string } = {}): SendOutcome {
  const message = detail.message ?? (answer.text.slice(0, 300) || `HTTP ${answer.status}`);
  const providerErrorCode = detail.providerErrorCode;
  if (answer.status === 429) return { kind: 'retry', code: 'PROVIDER_THROTTLED', message, retryAfterMs: retryAfterMs(answer.headers), providerErrorCode };
  if (answer.status >= 500) return { kind: 'retry', code: 'PROVIDER_UNAVAILABLE', message, retryAfterMs: retryAfterMs(answer.headers), providerErrorCode };
  if (answer.status === 401 || answer.status === 403) return { kind: 'retry', code: 'PROVIDER_AUTH', message, providerErrorCode };
  return { kind: 'rejected', code: 'PROVIDER_REJECTED', message, providerErrorCode };
}

/**
 * Sends one request and reads the whole answer. A transport failure comes back as the
 * outcome it implies; any answer (2xx or not) comes back for the client to interpret.
 */
export async function providerRequest(
  fetchFn: Fetch, url: string, init: RequestInit, signal: AbortSignal,
): Promise<{ ok: true; answer: HttpAnswer } | { ok: false; outcome: SendOutcome }> {
  let res: Response;
  let text: string;
  try {
    res = await fetchFn(url, { ...init, signal, redirect: 'manual' });
    text = await res.text();
  } catch (err) {
    return { ok: false, outcome: transportOutcome(err) };
  }
  let json: unknown;
  if (text.length > 0) {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { ok: true, answer: { status: res.status, headers: res.headers, text, json } };
}

export function basicAuth(user: string, password: string): string {
  return 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
}
