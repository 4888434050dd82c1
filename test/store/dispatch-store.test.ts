import { describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { leaveForRecovery, markSent, releaseUnsent, requeue } from '../../src/store/dispatch-store.js';
import { claimDue, claimStale, moveEach, moveStatus, type ClaimedMessage } from '../../src/store/message-store.js';
import { freshStores } from '../helpers/fresh-store.js';
import { messageRow } from '../helpers/message-row.js';

const freshStore = freshStores();

describe('a claim\'s writes', () => {
  // The order that broke a token of `attempts`: a claim handed back unsent lowers `attempts` again, so
  // the next claim of the message carried the handed-back claim's number.
  it('apply only to that claim: not to a newer claim of the message, even after a claim handed back unsent', async () => {
    const { store } = await freshStore();
    const { db, dialect } = store;
    const at = Date.now();
    const id = newId('msg', at);
    await db.insertInto('messages').values(messageRow(id, at)).execute();
    const claim = async () => (await claimDue(db, dialect, 'simulator', 10, at + 1, at + 30_000))[0];

    const first = await claim();
    // Recovery takes the first claim over (its lease ran out) and keeps its token.
    const [recovered] = await claimStale(db, dialect, 10, at + 40_000, at + 70_000);
    expect(recovered.claims).toBe(first.claims);
    // The first round hands it back unsent; a newer round claims it.
    await releaseUnsent(db, [first], at + 2);
    const newer = await claim();
    expect(newer.attempts).toBe(first.attempts);
    expect((await db.selectFrom('messages').select('status').where('id', '=', id).executeTakeFirst())?.status).toBe('sending');
    expect(newer.claims).toBe(first.claims + 1);

    // Neither the first round nor recovery of the first claim can end the newer claim.
    const stale: ClaimedMessage[] = [first, recovered];
    for (const old of stale) {
      expect(await requeue(db, old, { provider: 'simulator', dueAt: at, code: 'X', message: 'x' }, at + 3)).toBe(false);
      expect(await leaveForRecovery(db, old, 'X', 'x', at + 3)).toBe(false);
      expect((await markSent(db, [{ message: old, providerMessageId: 'sim_old', finishedAt: at + 3, durationMs: 2 }], at + 1, at + 3)).stored.size).toBe(0);
      expect(await moveStatus(db, { ids: [id], from: ['sending'], claims: old.claims }, 'queued', 'recovery', at + 3)).toEqual([]);
      expect(await moveEach(db, [{ id, from: 'sending', claims: old.claims, set: { status: 'failed', updated_at: at + 3 } }])).toEqual(new Set());
      await releaseUnsent(db, [old], at + 3);
    }
    expect(await db.selectFrom('messages').select(['status', 'attempts', 'claims', 'provider_message_id']).where('id', '=', id).executeTakeFirst())
      .toEqual({ status: 'sending', attempts: newer.attempts, claims: newer.claims, provider_message_id: null });

    // The newer claim's own writes apply.
    expect([...(await markSent(db, [{ message: newer, providerMessageId: 'sim_new', finishedAt: at + 4, durationMs: 3 }], at + 1, at + 4)).moved]).toEqual([id]);
    expect(await db.selectFrom('messages').select(['status', 'provider_message_id']).where('id', '=', id).executeTakeFirst())
      .toEqual({ status: 'sent', provider_message_id: 'sim_new' });
  });

  it('hand back unsent claims of different attempts in one go, each to its own count before the claim', async () => {
    const { store } = await freshStore();
    const { db, dialect } = store;
    const at = Date.now();
    const ids = [0, 2, 5].map((attempts, i) => ({ id: newId('msg', at + i), attempts }));
    for (const { id, attempts } of ids) await db.insertInto('messages').values(messageRow(id, at, { attempts })).execute();
    const claimed = await claimDue(db, dialect, 'simulator', 10, at + 1, at + 30_000);
    expect(claimed.map((m) => m.attempts).sort()).toEqual([1, 3, 6]);
    await releaseUnsent(db, claimed, at + 2);
    const rows = await db.selectFrom('messages').select(['id', 'status', 'attempts', 'lease_until']).orderBy('id').execute();
    expect(rows).toEqual(ids.map(({ id, attempts }) => ({ id, status: 'queued', attempts, lease_until: null })));
  });
});
