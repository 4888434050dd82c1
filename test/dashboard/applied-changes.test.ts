/** The dashboard's filter of status changes that come after a later one of their message (dashboard/src/api/applied-changes.ts). */
import { describe, expect, it } from 'vitest';
import { AppliedChanges } from '../../dashboard/src/api/applied-changes.js';

/** [message, event id] */
type Heard = [string, string];
const letThrough = (applied: AppliedChanges, changes: Heard[]) => changes
  .filter(([message_id, id]) => applied.isNew({ message_id, id }))
  .map(([m, id]) => `${id} ${m}`);

describe('AppliedChanges', () => {
  it('lets through, after a resume, only what is numbered after the last change applied to each message', () => {
    const applied = new AppliedChanges();
    expect(letThrough(applied, [['a', 'evt_5'], ['a', 'evt_7'], ['b', 'evt_8']])).toEqual(['evt_5 a', 'evt_7 a', 'evt_8 b']);
    // The resume from evt_8 replays the look-back: 5, 7 and 8 again, and 6, which committed late; then 9.
    expect(letThrough(applied, [['a', 'evt_5'], ['c', 'evt_6'], ['a', 'evt_7'], ['b', 'evt_8'], ['b', 'evt_9']])).toEqual(['evt_6 c', 'evt_9 b']);
    // Numbers compare as numbers, not as text.
    expect(letThrough(applied, [['d', 'evt_10'], ['d', 'evt_9'], ['d', 'evt_11']])).toEqual(['evt_10 d', 'evt_11 d']);
  });

  it('goes by the number, not the time: a change numbered later is applied even when stamped earlier', () => {
    // The stream's changes carry their timestamp; a message's numbers follow its history, its clocks may not.
    const applied = new AppliedChanges();
    const change = (id: string, ms: number) => ({ message_id: 'a', id, timestamp: new Date(Date.parse('2026-11-27T10:00:00.000Z') + ms).toISOString() });
    expect(applied.isNew(change('evt_5', 20))).toBe(true);
    expect(applied.isNew(change('evt_6', 10))).toBe(true);
    expect(applied.isNew(change('evt_5', 20))).toBe(false);
  });

  it('never skips an id without a number, and forgets the least recently changed message past its bound', () => {
    const applied = new AppliedChanges(2);
    expect(letThrough(applied, [['a', 'evt_01kabcdefghjkmnpqrstvwxyz0'], ['a', 'evt_01kabcdefghjkmnpqrstvwxyz0']])).toHaveLength(2);
    expect(letThrough(applied, [['a', 'evt_3'], ['b', 'evt_4'], ['a', 'evt_5']])).toHaveLength(3);
    // c pushes out b (a changed later): a's old change is still skipped, b's is let through again.
    expect(letThrough(applied, [['c', 'evt_6'], ['a', 'evt_5'], ['b', 'evt_4']])).toEqual(['evt_6 c', 'evt_4 b']);
  });
});
