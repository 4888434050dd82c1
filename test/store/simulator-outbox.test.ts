import { describe, expect, it } from 'vitest';
import { FieldCipher } from '../../src/domain/field-cipher.js';
import { newId } from '../../src/domain/ids.js';
import type { SimulatorOutboxEntry } from '../../src/providers/simulator.js';
import { Kysely, SqliteDialect, type CompiledQuery } from 'kysely';
import { openSqlite } from '../../src/store/database.js';
import type { Database } from '../../src/store/schema.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { SimulatorOutboxStore } from '../../src/store/simulator-outbox-store.js';
import { freshStores } from '../helpers/fresh-store.js';

const freshStore = freshStores();

const entry = (i: number): SimulatorOutboxEntry => {
  const now = Date.now();
  return {
    id: newId('sim', now), message_id: `msg_${i}`, to_number: `+1415555${String(i).padStart(4, '0')}`, from_number: null, body: `code ${i}`,
    encoding: 'GSM-7', segments: 1, accepted_at: now, report_due_at: now + 1000, report_status: 'delivered',
  };
};

describe('the simulator outbox', () => {
  it('stores a round of entries recorded together, each readable once its promise resolves, in as few statements as the sizes allow', async () => {
    const { store, url } = await freshStore();
    // On SQLite, through a connection that logs every statement it runs.
    const inserts: CompiledQuery[] = [];
    const db = store.dialect === 'sqlite'
      ? new Kysely<Database>({ dialect: new SqliteDialect({ database: openSqlite(url.slice('sqlite:'.length)) }), log: (e) => { if (/insert into "simulator_outbox"/.test(e.query.sql)) inserts.push(e.query); } })
      : store.db;
    const outbox = new SimulatorOutboxStore(db, new GroupCommit(db, store.dialect), new FieldCipher({ current: Buffer.alloc(32, 7), previous: [] }));

    const first = Array.from({ length: 263 }, (_, i) => entry(i));
    await Promise.all(first.map((e) => outbox.record(e)));
    // A later round is a write of its own, and nothing recorded earlier is written twice.
    await outbox.record(entry(1000));

    const { items, total } = await outbox.list(undefined, 500, 0);
    expect(total).toBe(264);
    expect(new Set(items.map((i) => i.id))).toEqual(new Set([...first.map((e) => e.id), items.find((i) => i.message_id === 'msg_1000')!.id]));
    expect(items.find((i) => i.message_id === 'msg_7')!.body).toBe('code 7');
    if (store.dialect === 'sqlite') {
      // The 263 recorded together: 256 + 4 + 2 + 1 rows (statement shapes of powers of two); then the later one.
      expect(inserts.map((q) => q.parameters.length / 11)).toEqual([256, 4, 2, 1, 1]);
      await db.destroy();
    }
  });

  it('takes new entries to a new write after a write was refused before it ran', async () => {
    const { store } = await freshStore();
    const commits = new GroupCommit(store.db, store.dialect);
    let refuse = true;
    // As when the write lock or a connection cannot be had: the job never runs.
    const flaky = { run: (job: Parameters<GroupCommit['run']>[0]) => (refuse ? Promise.reject(new Error('database is locked')) : commits.run(job)) } as GroupCommit;
    const outbox = new SimulatorOutboxStore(store.db, flaky, new FieldCipher({ current: Buffer.alloc(32, 7), previous: [] }));
    await expect(Promise.all([outbox.record(entry(1)), outbox.record(entry(2))])).rejects.toThrow(/locked/);
    refuse = false;
    await outbox.record(entry(3));
    expect((await outbox.list(undefined, 10, 0)).items.map((i) => i.message_id)).toEqual(['msg_3']);
  });
});
