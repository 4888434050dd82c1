import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** `TEST_DATABASE=postgres` runs the same tests on PostgreSQL, each gateway in a schema of its own. */
export const onPostgres = process.env.TEST_DATABASE === 'postgres';
const PG_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A new, empty database for one gateway (or for one restart sequence). */
export async function freshDatabaseUrl(): Promise<string> {
  if (!onPostgres) return `sqlite:${join(mkdtempSync(join(tmpdir(), 'smsgw-')), 'gateway.db')}`;
  const schema = `t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`create schema ${schema}`);
  await client.end();
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

/** Removes what freshDatabaseUrl made. */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  if (databaseUrl.startsWith('sqlite:')) {
    const { rmSync } = await import('node:fs');
    const { dirname } = await import('node:path');
    rmSync(dirname(databaseUrl.slice('sqlite:'.length)), { recursive: true, force: true });
    return;
  }
  const schema = new URL(databaseUrl).searchParams.get('options')?.match(/search_path=(\w+)/)?.[1];
  if (!schema) return;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`drop schema if exists ${schema} cascade`);
  await client.end();
}
