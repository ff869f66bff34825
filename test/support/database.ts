import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';

/**
 * The PostgreSQL database of the tests whose subject exists only there (a terminated backend has no
 * PGlite counterpart), on either pass of the suite: TEST_DATABASE_URL, else the local server (as
 * `npm run test:crash`).
 */
export const POSTGRES_TEST_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The run's migrated embedded database (scripts/run-tests.mjs), read once per process. */
let pgliteTemplate: Promise<Blob> | undefined;

function runTemplate(): Promise<Blob> | undefined {
  const file = process.env.CARE360_TEST_PGLITE_TEMPLATE;
  if (file) pgliteTemplate ??= readFile(file).then((bytes) => new Blob([bytes]));
  return pgliteTemplate;
}

/**
 * A fresh, migrated database for one test file: in-memory PGlite by default (under `npm test` opened from the
 * run's migrated one, test/support/pglite-template.ts; else migrated here); when TEST_DATABASE_URL names a
 * PostgreSQL database (or `postgres` is asked for: POSTGRES_TEST_URL), a new schema in it (the connection's
 * search_path), dropped by `drop`. `url` is the connection string of that schema, for tests that start server
 * processes on it.
 */
export async function freshDatabase(
  options: { postgres?: boolean } = {},
): Promise<{ db: Database; url?: string; drop: () => Promise<void> }> {
  const serverUrl = options.postgres ? POSTGRES_TEST_URL : process.env.TEST_DATABASE_URL;
  if (!serverUrl) {
    const template = runTemplate();
    if (template) {
      const db = await openDatabase({ engine: 'pglite', loadDataDir: await template });
      // The first statement and the next turn of the event loop take the rest of the start from a tarball (up to
      // seconds of main-thread work on a loaded machine): here, not inside a test that times its requests.
      await db.query('select 1');
      await new Promise((resolve) => setTimeout(resolve, 0));
      return { db, drop: () => db.close() };
    }
    const db = await openDatabase({ engine: 'pglite' });
    await migrate(db);
    return { db, drop: () => db.close() };
  }
  const schema = `care360_test_${randomBytes(6).toString('hex')}`;
  await withClient(serverUrl, (client) => client.query(`create schema ${schema}`));
  const url = schemaUrl(serverUrl, schema);
  const db = await openDatabase({ engine: 'postgres', url, poolSize: 20 });
  await migrate(db);
  return {
    db,
    url,
    async drop() {
      await db.close();
      await withClient(serverUrl, (client) => client.query(`drop schema if exists ${schema} cascade`));
    },
  };
}

export function schemaUrl(serverUrl: string, schema: string): string {
  const url = new URL(serverUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}
