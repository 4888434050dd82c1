import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { renderTemplate } from './template.js';

export const NUMERIC_ALPHABET = '0123456789';
/** Upper-case letters and digits without look-alikes: no 0/O, 1/I/L. */
export const ALPHANUMERIC_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

/** One CSPRNG draw per character; `randomInt` rejects out-of-range draws, so there is no modulo bias. */
export function generateCode(length: number, alphanumeric: boolean, draw: (max: number) => number = (max) => randomInt(max)): string {
  const alphabet = alphanumeric ? ALPHANUMERIC_ALPHABET : NUMERIC_ALPHABET;
  let code = '';
  for (let i = 0; i < length; i++) code += alphabet[draw(alphabet.length)];
  return code;
}

/** What a user types is compared in the alphabet's own form: alphanumeric codes ignore case and spaces. */
export function normaliseEntered(code: string, alphanumeric: boolean): string {
  const trimmed = code.replace(/[\s-]/g, '');
  return alphanumeric ? trimmed.toUpperCase() : trimmed;
}

/** Keyed hash bound to the session, so a hash from one session is worthless in another. */
export function hashCode(key: Buffer, sessionId: string, code: string): string {
  return createHmac('sha256', key).update(`${sessionId}:${code}`).digest('hex');
}

export function codeMatches(key: Buffer, sessionId: string, entered: string, storedHash: string): boolean {
  const a = Buffer.from(hashCode(key, sessionId, entered), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

export const DEFAULT_OTP_MESSAGE = 'Your verification code is {otp}. It expires in {expiry} minutes. Do not share it.';

export type OtpText = { ok: true; text: string; masked: string } | { ok: false; field: string; message: string };

/**
 * The OTP message, and the same with the code masked (what is stored and shown).
 * `{otp}`/`{expiry}` in custom messages (the seed's syntax), `{{otp}}`/`{{expiry}}` in templates.
 */
export function otpText(code: string, expiryMinutes: number, source: { template?: string; custom?: string }, extra: Record<string, unknown> = {}): OtpText {
  const mask = '*'.repeat(code.length);
  if (source.template !== undefined) {
    if (!/\{\{\s*otp\s*\}\}/.test(source.template)) return { ok: false, field: 'template_id', message: 'template has no {{otp}} placeholder' };
    const real = renderTemplate(source.template, { ...extra, otp: code, expiry: expiryMinutes });
    const masked = renderTemplate(source.template, { ...extra, otp: mask, expiry: expiryMinutes });
    if (!real.ok || !masked.ok) return { ok: false, field: 'template_id', message: `template needs variables the OTP request does not give: ${real.ok ? '' : real.missing.join(', ')}` };
    return { ok: true, text: real.text, masked: masked.text };
  }
  const custom = source.custom ?? DEFAULT_OTP_MESSAGE;
  if (!custom.includes('{otp}')) return { ok: false, field: 'custom_message', message: 'must contain {otp}' };
  const fill = (otp: string) => custom.replaceAll('{otp}', otp).replaceAll('{expiry}', String(expiryMinutes));
  return { ok: true, text: fill(code), masked: fill(mask) };
}
