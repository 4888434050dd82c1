import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
let pool = randomBytes(4096);
let offset = 0;
let lastTime = -1;
let sequence = 0;

function randomChunk(n: number): Buffer {
  if (offset + n > pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  const out = pool.subarray(offset, offset + n);
  offset += n;
  return out;
}

/** Crockford base32 digits, as bytes: an id is written into `scratch` and read out as one string. */
const DIGITS = Buffer.from(CROCKFORD, 'latin1');
const scratch = Buffer.alloc(26);

/** `ms` as 10 base32 digits at `scratch[0..9]`. */
function writeTime(ms: number): void {
  let t = ms;
  for (let i = 9; i >= 0; i--) {
    scratch[i] = DIGITS[t % 32];
    t = Math.floor(t / 32);
  }
}

/** The smallest or largest id `newId(prefix, ms)` can give: time ranges become primary-key ranges. */
export function idBoundary(prefix: string, ms: number, side: 'first' | 'last'): string {
  writeTime(Math.max(0, Math.floor(ms)));
  return `${prefix}_${scratch.toString('latin1', 0, 10)}${(side === 'first' ? '0' : 'z').repeat(16)}`;
}

/**
 * `prefix_` + 10 chars of millisecond time + 4 chars of a per-millisecond sequence + 12 random
 * chars (60 bits), Crockford base32. Ids sort in the order this process made them, so "newest
 * first" and first-come-first-served both follow the primary key. Written as bytes and read out
 * once: built a character at a time, each id left ~1 KB of intermediate strings to collect.
 */
export function newId(prefix: string, now = Date.now()): string {
  const bytes = randomChunk(12);
  if (now !== lastTime) {
    lastTime = now;
    // Starts low and random in each millisecond: room for ~500,000 more ids before it would wrap.
    sequence = ((bytes[0] << 8) | bytes[1]) & 0x7fff;
  } else {
    sequence = (sequence + 1) & 0xfffff;
  }
  writeTime(now);
  for (let i = 13, s = sequence; i >= 10; i--, s = Math.floor(s / 32)) scratch[i] = DIGITS[s % 32];
  for (let i = 0; i < 12; i++) scratch[14 + i] = DIGITS[bytes[i] & 31];
  return `${prefix}_${scratch.toString('latin1', 0, 26)}`;
}
