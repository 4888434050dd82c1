import type { Compilable, Kysely, QueryResult, RawBuilder } from 'kysely';
import type { Database } from './schema.js';
import { executeCompiled } from './sqlite-transactions.js';

/** What stands in for argument `i` while the query is built; nothing a caller would pass. */
const marker = (i: number) => `\u0000arg${i}\u0000`;
const MARKER = /^\u0000arg(\d+)\u0000$/;

/** Where each parameter of the compiled SQL comes from: an argument, or a value the query itself holds. */
type Slot = { arg: number } | { value: unknown };

/**
 * A query Kysely builds and compiles once, run again with fresh arguments: on the hot paths
 * (an OTP generate, a verify) building and compiling each query cost more CPU than SQLite takes
 * to run it. `build` is called once, with markers standing in for the arguments, so it must
 * only pass them through as values (no arithmetic, no branching on them); values it holds
 * itself (`'pending'`) stay as compiled. Compiled by the first database it runs on (the SQL
 * text depends on the dialect), so keep one per service, not one per module.
 */
export class PreparedStatement<A extends unknown[], R = unknown> {
  private compiled: { sql: string; slots: Slot[] } | undefined;

  constructor(private readonly build: (db: Kysely<Database>, ...args: A) => Compilable<R> | RawBuilder<R>) {}

  async execute(db: Kysely<Database>, ...args: A): Promise<QueryResult<R>> {
    const { sql, slots } = this.compiled ??= this.compile(db, args.length);
    const parameters = new Array<unknown>(slots.length);
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i];
      parameters[i] = 'arg' in slot ? args[slot.arg] : slot.value;
    }
    return executeCompiled<R>(db, sql, parameters);
  }

  /** The SQL text as compiled (for tests and EXPLAIN). */
  sql(db: Kysely<Database>, arity: number): string {
    return (this.compiled ??= this.compile(db, arity)).sql;
  }

  private compile(db: Kysely<Database>, arity: number): { sql: string; slots: Slot[] } {
    const markers = Array.from({ length: arity }, (_, i) => marker(i)) as unknown as A;
    const query = this.build(db, ...markers);
    const compiled = 'isRawBuilder' in query ? query.compile(db) : query.compile();
    const slots = compiled.parameters.map((p): Slot => {
      const match = typeof p === 'string' ? MARKER.exec(p) : null;
      return match ? { arg: Number(match[1]) } : { value: p };
    });
    const used = new Set(slots.flatMap((s) => ('arg' in s ? [s.arg] : [])));
    // An argument the compiled query does not bind was transformed or dropped by the builder: refuse.
    if (used.size !== arity) throw new Error(`prepared statement binds ${used.size} of its ${arity} arguments: ${compiled.sql}`);
    return { sql: compiled.sql, slots };
  }
}
