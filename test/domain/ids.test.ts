import { describe, expect, it } from 'vitest';
import { idBoundary, newId } from '../../src/domain/ids.js';

describe('newId', () => {
  it('sorts in creation order, also within one millisecond', () => {
    const ids = Array.from({ length: 5000 }, () => newId('msg', 1_800_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(newId('msg', 1_800_000_000_001) > ids[ids.length - 1]).toBe(true);
  });

  it('bounds every id of a millisecond', () => {
    const id = newId('msg', 1_800_000_000_000);
    expect(idBoundary('msg', 1_800_000_000_000, 'first') <= id).toBe(true);
    expect(idBoundary('msg', 1_800_000_000_000, 'last') >= id).toBe(true);
    expect(idBoundary('msg', 1_799_999_999_999, 'last') < id).toBe(true);
    expect(idBoundary('msg', 1_800_000_000_001, 'first') > id).toBe(true);
  });

  it('has its prefix and a fixed length', () => {
    expect(newId('bat')).toMatch(/^bat_[0-9a-hjkmnp-tv-z]{26}$/);
  });
});
