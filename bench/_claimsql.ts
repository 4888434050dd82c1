import { Kysely, SqliteDialect } from 'kysely';
import BetterSqlite3 from 'better-sqlite3';
const raw = new BetterSqlite3(':memory:');
const db = new Kysely<any>({ dialect: new SqliteDialect({ database: raw }) });
const due = db.selectFrom('messages').select('id').where('status', '=', 'queued').where('provider', '=', 'simulator').where('due_at', '<=', 1).orderBy('priority').orderBy('due_at').orderBy('id').limit(5);
const q = db.updateTable('messages').set((eb: any) => ({ status: 'sending', attempts: eb('attempts', '+', 1), lease_until: 2, updated_at: 1 })).where('id', 'in', due).returningAll().compile();
console.log(q.sql, q.parameters);
