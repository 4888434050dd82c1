/** The dashboard's filter of status changes a resumed events stream sends again (dashboard/src/api/applied-changes.ts). */
import { describe, expect, it } from 'vitest';
import { AppliedChanges } from '../../dashboard/src/api/applied-changes.js';

describe('AppliedChanges', () => {
  it('lets through, after a resume, only what is newer than the last change applied to each message', () => {
    const applied = new AppliedChanges();
    const heard = (changes: Array<[string, string]>) => changes.filter(([message, id]) => applied.isNew(message, id)).map(([m, id]) => `${id} ${m}`);
    expect(heard([['a', 'evt_5'], ['a', 'evt_7'], ['b', 'evt_8']])).toEqual(['evt_5 a', 'evt_7 a', 'evt_8 b']);
    // The resume from evt_8 replays the look-back: 5, 7 and 8 again, and 6, which committed late; then 9.
    expect(heard([['a', 'evt_5'], ['c', 'evt_6'], ['a', 'evt_7'], ['b', 'evt_8'], ['b', 'evt_9']])).toEqual(['evt_6 c', 'evt_9 b']);
    // Numbers compare as numbers, not as text.
    expect(heard([['a', 'evt_10'], ['a', 'evt_9']])).toEqual(['evt_10 a']);
  });

  it('never skips an id without a number, and forgets the least recently changed message past its bound', () => {
    const applied = new AppliedChanges(2);
    expect(applied.isNew('a', 'evt_01kabcdefghjkmnpqrstvwxyz0')).toBe(true);
    expect(applied.isNew('a', 'evt_01kabcdefghjkmnpqrstvwxyz0')).toBe(true);
    expect(applied.isNew('a', 'evt_3')).toBe(true);
    expect(applied.isNew('b', 'evt_4')).toBe(true);
    expect(applied.isNew('a', 'evt_5')).toBe(true);
    // c pushes out b (a changed later): a's old change is still skipped, b's is let through again.
    expect(applied.isNew('c', 'evt_6')).toBe(true);
    expect(applied.isNew('a', 'evt_5')).toBe(false);
    expect(applied.isNew('b', 'evt_4')).toBe(true);
  });
});
