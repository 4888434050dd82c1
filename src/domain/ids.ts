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

function encodeTime(ms: number): string {
  let time = '';
  let t = ms;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time;
}

/** The smallest or largest id `newId(prefix, ms)` can give: time ranges become primary-key ranges. */
export function idBoundary(prefix: string, ms: number, side: 'first' | 'last'): string {
  return `${prefix}_${encodeTime(Math.max(0, Math.floor(ms)))}${(side === 'first' ? '0' : 'z').repeat(16)}`;
}

/**
 * `prefix_` + 10 chars of millisecond time + 4 chars of a per-millisecond sequence + 12 random
 * chars (60 bits), Crockford base32. Ids sort in the order this process made them, so "newest
 * first" and first-come-first-served both follow the primary key.
 */
export function newId(prefix: string, now = Date.now()): string {
  const time = encodeTime(now);
  const bytes = randomChunk(12);
  if (now !== lastTime) {
    lastTime = now;
    // Starts low and random in each millisecond: room for ~500,000 more ids before it would wrap.
    sequence = ((bytes[0] << 8) | bytes[1]) & 0x7fff;
  } else {
    sequence = (sequence + 1) & 0xfffff;
  }
  let seq = '';
  for (let i = 0, s = sequence; i < 4; i++, s = Math.floor(s / 32)) seq = CROCKFORD[s % 32] + seq;
  let rand = '';
  for (let i = 0; i < 12; i++) rand += CROCKFORD[bytes[i] & 31];
  return `${prefix}_${time}${seq}${rand}`;
}
