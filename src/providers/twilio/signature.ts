import { createHmac } from 'node:crypto';
import { safeEqual } from '../../domain/signature.js';

/** Form fields as posted; a name may repeat. */
export type FormFields = Record<string, string | string[]>;

/** Every field of a form body, keeping repeated names (the signature covers each value). */
export function formFields(rawBody: string): FormFields {
  const fields: FormFields = {};
  for (const [name, value] of new URLSearchParams(rawBody)) {
    const seen = fields[name];
    if (seen === undefined) fields[name] = value;
    else fields[name] = Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return fields;
}

/**
 * `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the auth token, of the full URL Twilio called
 * (query included) followed by each POST field name and value, names sorted, no separators; a
 * repeated name contributes each distinct value in sorted order.
 * https://www.twilio.com/docs/usage/security#validating-requests and
 * twilio-node src/webhooks/webhooks.ts (getExpectedTwilioSignature).
 */
export function twilioSignature(authToken: string, url: string, fields: FormFields): string {
  let signed = url;
  for (const name of Object.keys(fields).sort()) {
    const value = fields[name];
    const values = Array.isArray(value) ? [...new Set(value)].sort() : [value];
    for (const v of values) signed += name + v;
  }
  return createHmac('sha1', authToken).update(signed, 'utf8').digest('base64');
}

/**
 * Twilio is not consistent about a default port in the URL it signs (twilio-node checks both),
 * so the URL is tried as given, and with the scheme's default port removed or added.
 */
export function isValidTwilioSignature(authToken: string, signature: string, url: string, fields: FormFields): boolean {
  return urlsTwilioMayHaveSigned(url).some((candidate) => safeEqual(signature, twilioSignature(authToken, candidate, fields)));
}

function urlsTwilioMayHaveSigned(url: string): string[] {
  const parts = /^(https?):\/\/([^/?#]+)(.*)$/i.exec(url);
  if (!parts) return [url];
  const [, scheme, authority, rest] = parts;
  const defaultPort = scheme.toLowerCase() === 'https' ? '443' : '80';
  const port = /:(\d+)$/.exec(authority);
  if (!port) return [url, `${scheme}://${authority}:${defaultPort}${rest}`];
  if (port[1] !== defaultPort) return [url];
  return [url, `${scheme}://${authority.slice(0, -port[0].length)}${rest}`];
}
