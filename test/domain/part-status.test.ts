import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { messageStatusFromParts, type PartStatus } from '../../src/domain/part-status.js';

describe('messageStatusFromParts', () => {
  it('is delivered only once every expected part is', () => {
    expect(messageStatusFromParts(['delivered', 'delivered', 'delivered'], 3)).toBe('delivered');
    expect(messageStatusFromParts(['delivered', 'delivered'], 3)).toBe('sent');
    expect(messageStatusFromParts(['delivered', 'sent', 'delivered'], 3)).toBe('sent');
    expect(messageStatusFromParts(['delivered'], 1)).toBe('delivered');
  });

  it('is failed as soon as one part failed, whatever the others say', () => {
    expect(messageStatusFromParts(['delivered', 'failed'], 2)).toBe('failed');
    expect(messageStatusFromParts(['undelivered', 'failed', 'sent'], 3)).toBe('failed');
  });

  it('is undelivered when a part was undelivered and none failed', () => {
    expect(messageStatusFromParts(['delivered', 'undelivered'], 2)).toBe('undelivered');
    expect(messageStatusFromParts(['undelivered'], 4)).toBe('undelivered');
  });

  it('is sent while reports are missing', () => {
    expect(messageStatusFromParts([], 2)).toBe('sent');
    expect(messageStatusFromParts(['sent', 'sent'], 2)).toBe('sent');
  });

  it('is never delivered with no part reports, even when the count is missing or zero', () => {
    expect(messageStatusFromParts([], 0)).toBe('sent');
  });

  describe('properties', () => {
    const status = fc.constantFrom<PartStatus>('sent', 'delivered', 'undelivered', 'failed');
    const parts = fc.array(status, { maxLength: 10 });
    const expected = fc.integer({ min: 0, max: 10 });

    it('delivered exactly when every expected part is delivered and none went wrong', () => {
      fc.assert(fc.property(parts, expected, (ps, n) => {
        const delivered = ps.filter((p) => p === 'delivered').length;
        const allGood = ps.every((p) => p === 'delivered' || p === 'sent');
        expect(messageStatusFromParts(ps, n) === 'delivered').toBe(allGood && delivered >= Math.max(1, n));
      }));
    });

    it('failed exactly when a part failed', () => {
      fc.assert(fc.property(parts, expected, (ps, n) => {
        expect(messageStatusFromParts(ps, n) === 'failed').toBe(ps.includes('failed'));
      }));
    });

    it('does not depend on the order reports arrived in', () => {
      fc.assert(fc.property(parts, expected, fc.nat(), (ps, n, seed) => {
        const shuffled = [...ps].sort((a, b) => ((a.charCodeAt(0) * 31 + seed) % 7) - ((b.charCodeAt(0) * 31 + seed) % 7));
        expect(messageStatusFromParts(shuffled, n)).toBe(messageStatusFromParts(ps, n));
      }));
    });

    it('a later report can only make it worse or more complete, never back to sent', () => {
      fc.assert(fc.property(parts, status, expected, (ps, next, n) => {
        const before = messageStatusFromParts(ps, n);
        const after = messageStatusFromParts([...ps, next], n);
        if (before !== 'sent') expect(after).not.toBe('sent');
        if (before === 'failed') expect(after).toBe('failed');
      }));
    });
  });
});
