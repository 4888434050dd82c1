/** The dashboard's filter of status changes that come after a later one of their message (dashboard/src/api/applied-changes.ts). */
import { describe, expect, it } from 'vitest';
import { AppliedChanges } from '../../dashboard/src/api/applied-changes.js';

const T0 = Date.parse('2026-11-27T10:00:00.000Z');
/** [message, event id, ms after T0] */
type Heard = [string, string, number];
const letThrough = (applied: AppliedChanges, changes: Heard[]) => changes
  .filter(([message_id, id, ms]) => applied.isNew({ message_id, id, timestamp: new Date(T0 + ms).toISOString() }))
  .map(([m, id]) => `${id} ${m}`);

describe('AppliedChanges', () => {
  it('lets through, after a resume, only what is later than the last change applied to each message', () => {
    const applied = new AppliedChanges();
    expect(letThrough(applied, [['a', 'evt_5', 10], ['a', 'evt_7', 30], ['b', 'evt_8', 40]])).toEqual(['evt_5 a', 'evt_7 a', 'evt_8 b']);
    // The resume from evt_8 replays the look-back: 5, 7 and 8 again, and 6, which committed late; then 9.
    expect(letThrough(applied, [['a', 'evt_5', 10], ['c', 'evt_6', 20], ['a', 'evt_7', 30], ['b', 'evt_8', 40], ['b', 'evt_9', 50]])).toEqual(['evt_6 c', 'evt_9 b']);
    // Numbers compare as numbers, not as text; at the same time the number decides.
    expect(letThrough(applied, [['d', 'evt_10', 60], ['d', 'evt_9', 60], ['d', 'evt_11', 60]])).toEqual(['evt_10 d', 'evt_11 d']);
  });

  it('skips a change stamped earlier than one applied, even when it is numbered higher', () => {
    // A send that fails at once: `failed` is stored first (evt_20), the claim's `sending` (evt_21) after it,
    // stamped with the earlier claim time. The page must end on failed.
    const applied = new AppliedChanges();
    expect(letThrough(applied, [['a', 'evt_19', 0], ['a', 'evt_20', 15], ['a', 'evt_21', 5]])).toEqual(['evt_19 a', 'evt_20 a']);
  });

  it('never skips an id without a number, and forgets the least recently changed message past its bound', () => {
    const applied = new AppliedChanges(2);
    expect(letThrough(applied, [['a', 'evt_01kabcdefghjkmnpqrstvwxyz0', 100], ['a', 'evt_01kabcdefghjkmnpqrstvwxyz0', 100]])).toHaveLength(2);
    expect(letThrough(applied, [['a', 'evt_3', 3], ['b', 'evt_4', 4], ['a', 'evt_5', 5]])).toHaveLength(3);
    // c pushes out b (a changed later): a's old change is still skipped, b's is let through again.
    expect(letThrough(applied, [['c', 'evt_6', 6], ['a', 'evt_5', 5], ['b', 'evt_4', 4]])).toEqual(['evt_6 c', 'evt_4 b']);
  });
});
