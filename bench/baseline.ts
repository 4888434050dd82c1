/**
 * The floor we compare against: a bare Fastify route that inserts one row into SQLite (WAL),
 * no validation, no batching. Run: npx tsx bench/baseline.ts, then autocannon it (see RESULTS.md).
 */
import Fastify from 'fastify';
import Database from 'better-sqlite3';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const db = new Database(join(mkdtempSync(join(tmpdir(), 'baseline-')), 'b.db'));
db.pragma('journal_mode = WAL');
db.pragma(`synchronous = ${process.env.SQLITE_SYNCHRONOUS ?? 'FULL'}`);
db.exec('create table messages (id integer primary key, to_number text, body text, created_at integer)');
const insert = db.prepare('insert into messages (to_number, body, created_at) values (?, ?, ?)');
const app = Fastify();
app.post('/send', async (request) => {
  const body = request.body as { to: string; message: string };
  const { lastInsertRowid } = insert.run(body.to, body.message, Date.now());
  return { id: Number(lastInsertRowid) };
});
await app.listen({ port: Number(process.env.PORT ?? 18999), host: '127.0.0.1' });
