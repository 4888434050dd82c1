// Opens the database named on the command line and migrates it: one "process starting", for the migration race test.
import { createStore } from '../../src/store/database.js';
import { migrate } from '../../src/store/migrations.js';

const store = createStore(process.argv[2], 'normal');
await migrate(store.db, store.dialect);
await store.close();
