import { describe, expect, it } from 'vitest';
import { newId } from '../../src/domain/ids.js';
import { moveEach } from '../../src/store/message-store.js';
import { freshStores } from '../helpers/fresh-store.js';
import { messageRow } from '../helpers/message-row.js';

const freshStore = freshStores();

describe('moveEach', () => {
  it('changes each message as given, only while it is still in the status it was judged in, and leaves every other column alone', async () => {
    const { store } = await freshStore();
    const at = Date.UTC(2026, 10, 1);
    const ids = Array.from({ length: 300 }, (_, i) => newId('msg', at + i));
    await store.db.insertInto('messages').values(ids.map((id, i) => messageRow(id, at, {
      status: i % 3 === 0 ? 'sending' : 'sent', provider_message_id: `sim_${i}`, cost: 0.02, attempts: 1, error_code: 'OLD', sent_at: i % 3 === 0 ? null : at + 1, lease_until: at + 9,
    }))).execute();

    // Judged as `sent`: a third of them are `sending`, so they must not move.
    const moves = ids.map((id, i) => i % 2 === 0
      ? { id, from: 'sent' as const, set: { status: 'delivered', updated_at: at + 100, final_at: at + 50 + i, lease_until: null } }
      : { id, from: 'sent' as const, set: { status: 'undelivered', updated_at: at + 100, final_at: at + 60, error_code: `E${i}`, error_message: 'absent', cost: 0.5 + i } });
    const moved = await moveEach(store.db, moves);

    const expected = ids.filter((_, i) => i % 3 !== 0);
    expect([...moved].sort()).toEqual([...expected].sort());
    const rows = new Map((await store.db.selectFrom('messages').selectAll().execute()).map((r) => [r.id, r]));
    ids.forEach((id, i) => {
      const row = rows.get(id)!;
      if (i % 3 === 0) return expect(row).toMatchObject({ status: 'sending', final_at: null, lease_until: at + 9, error_code: 'OLD', cost: 0.02 });
      if (i % 2 === 0) return expect(row).toMatchObject({ status: 'delivered', final_at: at + 50 + i, lease_until: null, error_code: 'OLD', error_message: null, cost: 0.02, sent_at: at + 1, provider_message_id: `sim_${i}` });
      return expect(row).toMatchObject({ status: 'undelivered', final_at: at + 60, lease_until: at + 9, error_code: `E${i}`, error_message: 'absent', cost: 0.5 + i, sent_at: at + 1 });
    });
  });

  it('with a claim token, moves a message only while it is still that claim; a move without one in the same statement is not held to any', async () => {
    const { store } = await freshStore();
    const at = Date.UTC(2026, 10, 1);
    const ids = Array.from({ length: 4 }, (_, i) => newId('msg', at + i));
    await store.db.insertInto('messages').values(ids.map((id, i) => messageRow(id, at, { status: 'sending', attempts: 1, lease_until: at + 9, claims: i + 1 }))).execute();
    const sent = { status: 'sent', updated_at: at + 100 };
    const moved = await moveEach(store.db, [
      { id: ids[0], from: 'sending', claims: 1, set: sent },
      { id: ids[1], from: 'sending', claims: 1, set: sent },
      { id: ids[2], from: 'sending', set: sent },
      { id: ids[3], from: 'sending', claims: 4, set: sent },
    ]);
    // ids[1] is claim 2 now, not the claim 1 its move names.
    expect([...moved].sort()).toEqual([ids[0], ids[2], ids[3]].sort());
  });
});
