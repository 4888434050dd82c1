import { createHmac } from 'node:crypto';
import { safeEqual } from '../../domain/signature.js';

/** Callback parameters; a name may repeat. */
export type CallbackParams = Record<string, string | string[]>;

/** Every field of a form body, keeping repeated names. */
export function formParams(rawBody: string): CallbackParams {
  const params: CallbackParams = {};
  for (const [name, value] of new URLSearchParams(rawBody)) {
    const seen = params[name];
    if (seen === undefined) params[name] = value;
    else params[name] = Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return params;
}

/**
 * `X-Plivo-Signature-V3`: base64 HMAC-SHA256, keyed with the auth token, of "<signed url>.<nonce>".
 * The signed URL is scheme://host/path, then:
 * - GET: "?" and the URL's query merged with the params, sorted, as k=v joined by "&";
 * - POST: "?" whenever there is a query or a param, the URL's sorted query as k=v&k=v, a "." when
 *   there are both, then the POST params sorted, each name and value concatenated with no separator.
 * Ported from plivo-python plivo/utils/signature_v3.py and plivo-go utils.go (ComputeSignatureV3);
 * checked against plivo-go utils_test.go (TestValidateSignatureV3Pass1-4).
 * https://www.plivo.com/docs/voice/concepts/signature-validation
 */
export function plivoSignatureV3(authToken: string, method: 'GET' | 'POST', url: string, nonce: string, params: CallbackParams): string {
  return hmacBase64(authToken, `${signedUrlV3(method, url, params)}.${nonce}`);
}

/**
 * `X-Plivo-Signature-V2`: base64 HMAC-SHA256 of scheme://host/path (no query) followed by the nonce.
 * It does not cover the query or the body. plivo-python plivo/utils/__init__.py (validate_signature).
 * https://www.plivo.com/docs/messaging/concepts/signature-validation
 */
export function plivoSignatureV2(authToken: string, url: string, nonce: string): string {
  return hmacBase64(authToken, baseUrl(url) + nonce);
}

/** Whether any of the comma-separated signatures (one per active auth token) is the expected one. */
export function isValidPlivoSignature(header: string, expected: string): boolean {
  return header.split(',').some((candidate) => safeEqual(candidate.trim(), expected));
}

function signedUrlV3(method: 'GET' | 'POST', url: string, params: CallbackParams): string {
  const query = new URL(url).searchParams;
  const base = baseUrl(url);
  if (method === 'GET') {
    const merged: Record<string, string[]> = {};
    for (const [name, value] of query) (merged[name] ??= []).push(value);
    for (const [name, value] of Object.entries(params)) (merged[name] ??= []).push(...(Array.isArray(value) ? value : [value]));
    const sorted = sortedPairs(merged).map(([name, value]) => `${name}=${value}`).join('&');
    return sorted ? `${base}?${sorted}` : base;
  }
  const queryByName: Record<string, string[]> = {};
  for (const [name, value] of query) (queryByName[name] ??= []).push(value);
  const sortedQuery = sortedPairs(queryByName).map(([name, value]) => `${name}=${value}`).join('&');
  const body = sortedPairs(params).map(([name, value]) => name + value).join('');
  if (body === '') return sortedQuery ? `${base}?${sortedQuery}` : base;
  return sortedQuery ? `${base}?${sortedQuery}.${body}` : `${base}?${body}`;
}

/** Names sorted; a repeated name gives each of its values, sorted. */
function sortedPairs(params: Record<string, string | string[]>): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const name of Object.keys(params).sort()) {
    const value = params[name];
    for (const v of Array.isArray(value) ? [...value].sort() : [value]) pairs.push([name, v]);
  }
  return pairs;
}

/** scheme://host[:port]/path as written in the URL, without query or fragment. */
function baseUrl(url: string): string {
  return url.replace(/[?#].*$/s, '');
}

function hmacBase64(key: string, message: string): string {
  return createHmac('sha256', key).update(message, 'utf8').digest('base64');
}
