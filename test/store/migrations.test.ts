import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createStore, type Store } from '../../src/store/database.js';
import { migrate } from '../../src/store/migrations.js';
import { dropDatabase, freshDatabaseUrl } from '../helpers/database.js';

let url: string;
const opened: Store[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
  await dropDatabase(url);
});

function open(databaseUrl: string): Store {
  const store = createStore(databaseUrl, 'normal');
  opened.push(store);
  return store;
}

describe('migrations', () => {
  it('run once when several processes start together', async () => {
    url = await freshDatabaseUrl();
    // Real processes: better-sqlite3 waits for a lock synchronously, so connections in one process cannot take turns.
    const script = join(import.meta.dirname, '..', 'helpers', 'migrate-once.ts');
    const runs = await Promise.all([1, 2, 3].map(() => new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, url], { stdio: ['ignore', 'ignore', 'inherit'] });
      child.once('exit', (code) => resolve(code ?? -1));
    })));
    expect(runs).toEqual([0, 0, 0]);
    const store = open(url);
    const applied = await store.db.selectFrom('kysely_migration' as any).select('name').execute();
    expect(new Set(applied.map((r: any) => r.name)).size).toBe(applied.length);
    expect(applied.length).toBeGreaterThanOrEqual(4);
  });

  it('refuse a database migrated by a newer version, saying so', async () => {
    url = await freshDatabaseUrl();
    const store = open(url);
    await migrate(store.db, store.dialect);
    await sql`insert into kysely_migration (name, timestamp) values ('9999_from_the_future', '2030-01-01T00:00:00.000Z')`.execute(store.db);
    await expect(migrate(store.db, store.dialect)).rejects.toThrow(/newer than this gateway knows \(migration 9999_from_the_future/);
  });
});
