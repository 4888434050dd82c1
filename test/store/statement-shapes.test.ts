import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inList, powerOfTwoChunks } from '../../src/store/statement-shapes.js';

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

describe('statement shapes', () => {
  it('pad an IN list to a power of two with values it already has', () => {
    fc.assert(fc.property(fc.array(fc.string(), { maxLength: 600 }), (values) => {
      const padded = inList(values);
      if (values.length === 0) {
        expect(padded).toEqual([]);
        return;
      }
      expect(isPowerOfTwo(padded.length)).toBe(true);
      expect(padded.length).toBeLessThan(values.length * 2);
      expect(padded.slice(0, values.length)).toEqual(values);
      expect(new Set(padded)).toEqual(new Set(values));
    }));
  });

  it('cut a list into power-of-two chunks no longer than the limit, in order, nothing lost or repeated', () => {
    fc.assert(fc.property(fc.array(fc.integer(), { maxLength: 2000 }), fc.integer({ min: 1, max: 1000 }), (items, max) => {
      const chunks = powerOfTwoChunks(items, max);
      expect(chunks.flat()).toEqual(items);
      for (const chunk of chunks) {
        expect(isPowerOfTwo(chunk.length)).toBe(true);
        expect(chunk.length).toBeLessThanOrEqual(max);
      }
      // At most one chunk of each size below the largest: a few statement shapes, few statements.
      const small = chunks.map((c) => c.length).filter((n) => n < 2 ** Math.floor(Math.log2(max)));
      expect(new Set(small).size).toBe(small.length);
    }));
  });
});
