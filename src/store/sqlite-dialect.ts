import { type LimitNode, SqliteDialect, SqliteQueryCompiler, ValueNode, type QueryCompiler } from 'kysely';

/**
 * Writes a bound LIMIT as `limit +?`.
 *
 * SQLite (since 3.47) reads a LIMIT that is a bare parameter while it compiles a statement, and
 * marks the statement to be compiled again whenever that parameter is bound; better-sqlite3 binds
 * every parameter on every run. So each run of a cached `UPDATE messages … WHERE id IN (SELECT …
 * LIMIT ?)` (the dispatcher's claim) compiled the statement again, with every trigger on
 * `messages`: ~300 µs, against ~90 µs for the whole run on an empty queue. Behind a unary plus
 * (a no-op) the parameter is only read when the statement runs. A literal would do the same, at
 * the cost of a cached statement (~128 KiB for the claim) per limit value.
 */
export class BoundLimitCompiler extends SqliteQueryCompiler {
  protected override visitLimit(node: LimitNode): void {
    if (!ValueNode.is(node.limit)) return super.visitLimit(node);
    this.append('limit +');
    this.visitNode(node.limit);
  }
}

export class GatewaySqliteDialect extends SqliteDialect {
  override createQueryCompiler(): QueryCompiler {
    return new BoundLimitCompiler();
  }
}
