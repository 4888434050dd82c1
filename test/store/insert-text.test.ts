/**
 * insertRows writes its multi-row INSERT itself instead of having Kysely compile it (a cold compile of
 * a campaign's 512-row statement took 13 ms on the event loop). It must be the statement Kysely
 * would have made, for either database.
 */
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler } from 'kysely';
import { describe, expect, it } from 'vitest';
import { insertText } from '../../src/store/message-store.js';

function compilerOnly(postgres: boolean): Kysely<any> {
  return new Kysely<any>({
    dialect: {
      createAdapter: () => (postgres ? new PostgresAdapter() : new SqliteAdapter()),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => (postgres ? new PostgresIntrospector(db) : new SqliteIntrospector(db)),
      createQueryCompiler: () => (postgres ? new PostgresQueryCompiler() : new SqliteQueryCompiler()),
    },
  });
}

describe('insertText', () => {
  for (const postgres of [false, true]) {
    it(`is the INSERT Kysely compiles, on ${postgres ? 'PostgreSQL' : 'SQLite'}`, () => {
      const db = compilerOnly(postgres);
      const columns = ['id', 'message_id', 'status', 'created_at'];
      for (const rows of [1, 2, 7, 64]) {
        const values = Array.from({ length: rows }, (_, i) => Object.fromEntries(columns.map((c) => [c, `${c} ${i}`])));
        const compiled = db.insertInto('message_events').values(values).compile();
        expect(insertText(postgres, 'message_events', columns, rows)).toBe(compiled.sql);
        expect(compiled.parameters).toHaveLength(rows * columns.length);
      }
    });
  }

  it('refuses a name it would have to quote', () => {
    expect(() => insertText(false, 'messages', ['id', 'x"); drop table messages; --'], 1)).toThrow(/not a plain SQL name/);
    expect(() => insertText(true, 'Messages', ['id'], 1)).toThrow(/not a plain SQL name/);
  });
});
