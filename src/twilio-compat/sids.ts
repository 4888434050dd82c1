import { randomBytes } from 'node:crypto';

/**
 * Twilio-style SIDs: two letters and 32 lower-case hex digits.
 *
 * A message's SID is its id re-encoded, not a stored mapping: `msg_` + 26 Crockford base32
 * characters is 130 bits, of which the top two are the top of a millisecond clock that stays
 * zero until the year 6429, so the rest fits 128 bits (32 hex) exactly and converts back.
 * Every message therefore has a SID, whichever API made it, and a lookup needs no extra table.
 */
const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
const MESSAGE_ID = /^msg_[0-9a-hjkmnp-tv-z]{26}$/;
const LIMIT = 1n << 128n;

export const SID = (prefix: string) => new RegExp(`^${prefix}[0-9a-fA-F]{32}$`);
export const ACCOUNT_SID = SID('AC');
export const MESSAGE_SID = SID('SM');

/** The account a request made without any key (keys off) speaks for: there is no key to derive one from. */
export const OPERATOR_ACCOUNT_SID = `AC${'0'.repeat(32)}`;

export function messageSid(id: string): string {
  if (!MESSAGE_ID.test(id)) throw new Error(`not a message id: ${id}`);
  let value = 0n;
  for (const c of id.slice(4)) value = value * 32n + BigInt(CROCKFORD.indexOf(c));
  if (value >= LIMIT) throw new Error(`message id ${id} is beyond what a SID can carry`);
  return `SM${value.toString(16).padStart(32, '0')}`;
}

/** The message id a SID stands for, or undefined when it is not an SM SID. */
export function messageIdFromSid(sid: string): string | undefined {
  if (!MESSAGE_SID.test(sid)) return undefined;
  let value = BigInt(`0x${sid.slice(2)}`);
  let text = '';
  for (let i = 0; i < 26; i++) {
    text = CROCKFORD[Number(value % 32n)] + text;
    value /= 32n;
  }
  return `msg_${text}`;
}

/** A fresh SID for resources that are the compatibility layer's own (Verify services, verifications, send attempts). */
export function randomSid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}
