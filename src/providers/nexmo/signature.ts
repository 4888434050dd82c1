import { createHash, createHmac } from 'node:crypto';

/**
 * Vonage's signed-request scheme ("Signing requests",
 * https://developer.vonage.com/getting-started/concepts/signing-messages; reference code:
 * Vonage/vonage-node-sdk packages/sms/lib/sms.ts `verifySignature`). The account picks one
 * method in its dashboard: `md5hash` (the default) or an HMAC with md5/sha1/sha256/sha512.
 */
export const SIGNATURE_METHODS = ['md5hash', 'md5', 'sha1', 'sha256', 'sha512'] as const;
export type SignatureMethod = (typeof SIGNATURE_METHODS)[number];

/**
 * Every parameter except `sig`, sorted by name, as `&name=value` with `&` and `=` in values
 * replaced by `_` (so a value cannot forge a parameter boundary). `md5hash` hashes that string
 * with the secret appended; the HMAC methods key the HMAC with the secret. Hex digest, lower
 * case (Vonage sends the HMAC variants in upper case: compare case-insensitively).
 */
export function vonageSignature(params: Record<string, string>, secret: string, method: SignatureMethod): string {
  let signed = '';
  for (const name of Object.keys(params).sort()) {
    if (name === 'sig') continue;
    signed += `&${name}=${params[name].replace(/[&=]/g, '_')}`;
  }
  if (method === 'md5hash') return createHash('md5').update(signed + secret).digest('hex');
  return createHmac(method, secret).update(signed).digest('hex');
}
