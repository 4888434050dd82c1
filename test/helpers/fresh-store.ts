import { afterEach } from 'vitest';
import { createStore, type Store } from '../../src/store/database.js';
import { migrate } from '../../src/store/migrations.js';
import { dropDatabase, freshDatabaseUrl } from './database.js';

/** Call at the top of a test file: returns a maker of migrated stores on fresh databases, each closed and dropped after its test. */
export function freshStores(): () => Promise<{ store: Store; url: string }> {
  const opened: Array<{ store: Store; url: string }> = [];
  afterEach(async () => {
    for (const { store, url } of opened.splice(0)) {
      await store.close();
      await dropDatabase(url);
    }
  });
  return async () => {
    const url = await freshDatabaseUrl();
    const store = createStore(url, 'normal');
    opened.push({ store, url });
    await migrate(store.db, store.dialect);
    return { store, url };
  };
}
