import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer as createNetServer } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { loadConfig } from '../../src/config.ts';
import { phiCipherFor } from '../../src/crypto/phi.ts';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { moveToPostgres } from '../../src/operations/move-to-postgres.ts';
import { OperationError } from '../../src/operations/server-probe.ts';
import { cliBundle } from '../support/cli-bundle.ts';
import { CHILD_NODE_FLAGS } from '../support/process-flags.ts';
import { schemaUrl } from '../support/database.ts';
import { fillEveryTable, rowCounts, type Filled } from './fill-every-table.ts';

/**
 * The move needs a PostgreSQL server: the run's (TEST_DATABASE_URL) or the machine's, as CI provides it to
 * every suite run. Each target is a schema of its own there, dropped afterwards.
 */
const SERVER_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function onServer<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: SERVER_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function newSchema(): Promise<{ url: string; drop: () => Promise<void> }> {
  const schema = `care360_move_${randomBytes(5).toString('hex')}`;
  await onServer((client) => client.query(`create schema ${schema}`));
  return {
    url: schemaUrl(SERVER_URL, schema),
    drop: () => onServer((client) => client.query(`drop schema if exists ${schema} cascade`)).then(() => undefined),
  };
}

describe('npm run cli -- move-to-postgres', () => {
  let dataDir: string;
  let filled: Filled;
  let sourceCounts: Record<string, number>;
  let idlePort: string; // nothing listens there: no server runs
  const environment = () => ({ DATA_DIR: dataDir, PORT: idlePort });
  const drops: (() => Promise<void>)[] = [];

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'care360-move-'));
    idlePort = String(await freePort());
    const db = await openDatabase({ engine: 'pglite', dataDir });
    try {
      await migrate(db);
      filled = await fillEveryTable(db, environment());
      sourceCounts = await rowCounts(db);
    } finally {
      await db.close();
    }
  });
  after(async () => {
    for (const drop of drops) await drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts from an embedded database where every table has rows (a new table needs a path in the fixture)', () => {
    const empty = Object.entries(sourceCounts).filter(([, count]) => count === 0);
    assert.deepEqual(empty, [], `tables the fixture leaves empty: ${empty.map(([name]) => name).join(', ')}`);
    assert.ok(Object.keys(sourceCounts).length >= 20, Object.keys(sourceCounts).join(', '));
  });

  it('copies every table, verifies counts and checksums, checks PHI, and prints the settings', async () => {
    const target = await newSchema();
    drops.push(target.drop);
    const lines: string[] = [];
    const report = await moveToPostgres(loadConfig(environment()), target.url, { log: (line) => lines.push(line) });
    const moved = Object.fromEntries(report.tables.map((table) => [table.table, table.rows]));
    const { schema_migrations: migrations, ...copied } = sourceCounts;
    assert.deepEqual(moved, copied);
    assert.equal(report.migrations.length, migrations);
    assert.ok(report.phiChecked.answers >= 1 && report.phiChecked.files >= 1, JSON.stringify(report.phiChecked));
    assert.match(report.settings.DATABASE_URL!, /^postgres:\/\//);
    assert.match(report.settings.PHI_ENCRYPTION_KEY!, /phi\.key/);
    assert.ok(!JSON.stringify(report).includes(randomKeyText(dataDir)), 'the report never prints the PHI key');
    assert.equal(lines.length, report.tables.length);

    // The target, read on its own: the same rows, and the PHI decrypts with the embedded database's key.
    // One connection: tableDigests sets the session's time zone.
    const db: Database = await openDatabase({ engine: 'postgres', url: target.url, poolSize: 1 });
    try {
      assert.deepEqual(await rowCounts(db), sourceCounts);
      assert.deepEqual(await migrate(db), [], 'the target is at the current migration');
      const cipher = phiCipherFor({ configuredKey: undefined, dataDir, engine: 'pglite', inMemory: false });
      const { rows: answers } = await db.query<{ encrypted_value: string }>(
        'select encrypted_value from answers where encrypted_value is not null',
      );
      const decrypted = await Promise.all(answers.map((row) => cipher.decryptText(row.encrypted_value)));
      assert.ok(decrypted.includes(JSON.stringify(filled.phiAnswer)), decrypted.join(', '));
      const { rows: files } = await db.query<{ content: Buffer }>('select content from file_contents');
      const contents = await Promise.all(files.map((row) => cipher.decryptBytes(row.content)));
      assert.ok(contents.some((content) => content.equals(filled.fileBytes)));
      const { rows: cases } = await db.query<{ id: string }>('select id from cases');
      assert.deepEqual(cases.map((row) => row.id).sort(), [...filled.caseIds].sort());
      // Every row's text the same on both sides (an ordered digest, independent of the move's own checksums).
      const source = await openDatabase({ engine: 'pglite', dataDir });
      try {
        assert.deepEqual(await tableDigests(db), await tableDigests(source));
      } finally {
        await source.close();
      }
    } finally {
      await db.close();
    }
  });

  it('moves a database whose tables are empty (a new installation)', async () => {
    const fresh = await mkdtemp(path.join(tmpdir(), 'care360-move-empty-'));
    const target = await newSchema();
    drops.push(target.drop, () => rm(fresh, { recursive: true, force: true }));
    const db = await openDatabase({ engine: 'pglite', dataDir: fresh });
    await migrate(db);
    await db.close();
    const report = await moveToPostgres(
      loadConfig({ DATA_DIR: fresh, PORT: idlePort, PHI_ENCRYPTION_KEY: randomBytes(32).toString('hex') }),
      target.url,
    );
    assert.ok(report.tables.length >= 20);
    assert.ok(report.tables.every((table) => table.rows === 0));
    assert.deepEqual(report.phiChecked, { answers: 0, files: 0 });
  });

  it('refuses a target that holds data, and writes nothing to it', async () => {
    const target = await newSchema();
    drops.push(target.drop);
    const other = new pg.Client({ connectionString: target.url });
    await other.connect();
    try {
      await other.query('create table notes (id int primary key, body text)');
      await other.query("insert into notes values (1, 'kept')");
      const before = await rowCounts(clientDb(other));
      await assert.rejects(moveToPostgres(loadConfig(environment()), target.url), (error: Error) => {
        assert.ok(error instanceof OperationError);
        assert.match(error.message, /not empty \(table notes is not one of care360's\)\. Nothing was written/);
        return true;
      });
      assert.deepEqual(await rowCounts(clientDb(other)), before);
      assert.deepEqual(before, { notes: 1 });
    } finally {
      await other.end();
    }
  });

  it('refuses a migrated target with a row in one of its tables, and leaves it as it was', async () => {
    const target = await newSchema();
    drops.push(target.drop);
    const db = await openDatabase({ engine: 'postgres', url: target.url, poolSize: 2 });
    try {
      await migrate(db);
      await db.query("insert into organizations (id, name) values ('00000000-0000-4000-8000-000000000001', 'Other')");
      const before = await rowCounts(db);
      await assert.rejects(moveToPostgres(loadConfig(environment()), target.url), /organizations has rows/);
      assert.deepEqual(await rowCounts(db), before);
    } finally {
      await db.close();
    }
  });

  it('runs from the command line: refuses while a server answers, then moves into an empty database', async () => {
    const target = await newSchema();
    drops.push(target.drop);
    const cli = async (args: string[], env: Record<string, string>) =>
      promisify(execFile)(process.execPath, [...CHILD_NODE_FLAGS, await cliBundle(), ...args], {
        env: { PATH: process.env.PATH ?? '', ...env },
        timeout: 120_000,
      }).then(
        (result) => ({ code: 0, ...result }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
    // Something answers at the configured address: the move refuses (it needs the database to itself).
    const { createServer } = await import('node:http');
    const busy = createServer((_request, response) => response.end('{"status":"ready","database":"pglite"}'));
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = String((busy.address() as { port: number }).port);
    const refused = await cli(['move-to-postgres', target.url], { DATA_DIR: dataDir, PORT: port });
    await new Promise((resolve) => busy.close(resolve));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /A server runs at http:\/\/127\.0\.0\.1:\d+: stop it first/);
    assert.deepEqual(await onServer((client) => tablesIn(client, target.url)), []);

    const moved = await cli(['move-to-postgres', target.url], { DATA_DIR: dataDir, PORT: port });
    assert.equal(moved.code, 0, moved.stderr);
    const report = JSON.parse(moved.stdout) as { tables: { table: string; rows: number }[] };
    assert.equal(report.tables.find((table) => table.table === 'cases')?.rows, sourceCounts.cases);
    assert.match(moved.stderr, /To start on PostgreSQL/);
  });
});

/** The key file's text (base64): it must not appear in anything printed. */
function randomKeyText(dataDir: string): string {
  return readFileSync(path.join(dataDir, 'phi.key'), 'utf8').trim();
}

/** Per table, the MD5 of all its rows' text in order, with the session printing times in UTC. */
async function tableDigests(db: Pick<Database, 'query'>): Promise<Record<string, string>> {
  await db.query("set timezone = 'UTC'");
  const digests: Record<string, string> = {};
  for (const name of Object.keys(await rowCounts(db))) {
    if (name === 'schema_migrations') continue; // applied_at differs: each side applied its migrations
    const { rows } = await db.query<{ digest: string }>(
      `select md5(string_agg(row_text, E'\\n' order by row_text)) as digest from (select t::text as row_text from "${name}" t) x`,
    );
    digests[name] = rows[0]!.digest;
  }
  return digests;
}

function clientDb(client: pg.Client): Pick<Database, 'query'> {
  return {
    query: async <Row>(text: string, params?: readonly unknown[]) => {
      const result = await client.query(text, params as unknown[] | undefined);
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    },
  };
}

async function tablesIn(client: pg.Client, url: string): Promise<string[]> {
  const schema = /search_path%3D(\w+)/.exec(url)?.[1] ?? /search_path=(\w+)/.exec(decodeURIComponent(url))?.[1];
  const { rows } = await client.query<{ name: string }>(
    'select table_name as name from information_schema.tables where table_schema = $1',
    [schema],
  );
  return rows.map((row) => row.name);
}
