import { describe, expect, it } from 'vitest';
import { ALPHANUMERIC_ALPHABET, codeMatches, generateCode, hashCode, normaliseEntered, otpText } from '../../src/domain/otp.js';
import { randomBytes } from 'node:crypto';

describe('generateCode', () => {
  it('draws uniformly from the alphabet (chi-square)', () => {
    for (const [alphanumeric, size] of [[false, 10], [true, ALPHANUMERIC_ALPHABET.length]] as const) {
      const counts = new Map<string, number>();
      // Enough draws that the likeliest slip, a modulo bias (a byte % 10 gives 0-5 one chance in 256
      // more than 6-9), lands far above the bound: 600,000 digits put it near 230.
      const codes = alphanumeric ? 20_000 : 100_000;
      for (let i = 0; i < codes; i++) for (const ch of generateCode(6, alphanumeric)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
      expect(counts.size).toBe(size);
      const expected = (codes * 6) / size;
      let chi = 0;
      for (const n of counts.values()) chi += (n - expected) ** 2 / expected;
      // Bounds a fair draw exceeds about once in 10^9 runs (chi-square with size - 1 degrees of
      // freedom: 9 for digits, 30 for the alphanumeric alphabet).
      expect(size === 10 || size === 31).toBe(true);
      expect(chi).toBeLessThan(size === 10 ? 61 : 102);
    }
  });

  it('every position varies independently', () => {
    const firsts = new Set<string>();
    const lasts = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const c = generateCode(8, false);
      firsts.add(c[0]);
      lasts.add(c[7]);
    }
    expect(firsts.size).toBe(10);
    expect(lasts.size).toBe(10);
  });

  it('has lengths 4 to 10 and no look-alikes', () => {
    for (let n = 4; n <= 10; n++) expect(generateCode(n, false)).toMatch(new RegExp(`^\\d{${n}}$`));
    expect(ALPHANUMERIC_ALPHABET).not.toMatch(/[01OIL]/);
  });
});

describe('code hashing', () => {
  const key = randomBytes(32);
  it('matches only the right code for the right session', () => {
    const h = hashCode(key, 'otp_a', '123456');
    expect(codeMatches(key, 'otp_a', '123456', h)).toBe(true);
    expect(codeMatches(key, 'otp_a', '123457', h)).toBe(false);
    expect(codeMatches(key, 'otp_b', '123456', h)).toBe(false);
    expect(codeMatches(randomBytes(32), 'otp_a', '123456', h)).toBe(false);
    expect(normaliseEntered(' ab-cd ', true)).toBe('ABCD');
  });
});

describe('otpText', () => {
  it('fills {otp} and {expiry} and masks the code', () => {
    const t = otpText('123456', 5, { custom: 'Code: {otp}. Valid {expiry} min.' });
    expect(t).toEqual({ ok: true, text: 'Code: 123456. Valid 5 min.', masked: 'Code: ******. Valid 5 min.' });
  });
  it('default text fits one GSM-7 segment', async () => {
    const { segmentMessage } = await import('../../src/domain/encoding.js');
    const t = otpText('ABCDEFGHJK', 60, {});
    expect(t.ok && segmentMessage(t.text)).toMatchObject({ encoding: 'GSM-7', segments: 1 });
  });
  it('refuses texts without the code', () => {
    expect(otpText('1', 1, { custom: 'nothing' }).ok).toBe(false);
    expect(otpText('1', 1, { template: 'nothing {{x}}' }).ok).toBe(false);
  });
});
