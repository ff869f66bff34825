import { missingPhiKeyIds } from '../crypto/phi-key-check.ts';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Config } from '../config.ts';
import { phiCipherFor } from '../crypto/phi.ts';
import { openDatabase, type Database, type Queryable } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import { configuredServerUrl, OperationError, probeServer } from './server-probe.ts';

/**
 * `npm run cli -- move-to-postgres <DATABASE_URL>` (docs/operations.md): every table of the embedded
 * database copied into an empty PostgreSQL database, in one transaction on the target that also applies
 * the migrations, verified (row count and checksum of every table, the PHI key's check value, a sample of
 * PHI decrypted), then committed. Anything that fails or differs rolls the whole transaction back; a target
 * that holds data is refused before anything is written.
 *
 * Rows travel as PostgreSQL's COPY text, from PGlite's `COPY ... TO '/dev/blob'` into `COPY ... FROM STDIN`,
 * so every value arrives exactly as stored (timestamps to the microsecond, jsonb, numeric, bytea), in
 * batches along the primary key of about BATCH_BYTES each, whatever the size of the rows.
 */

const BATCH_BYTES = 8 * 1024 * 1024;
const FIRST_BATCH_ROWS = 1000;
const MAX_BATCH_ROWS = 50_000;
/** How many PHI answers and files are decrypted on the target (the checksums cover every byte). */
const PHI_SAMPLE = 100;

/** Session settings under which both engines print rows identically (the checksums compare that text). */
const SESSION_SETTINGS = [
  "set timezone = 'UTC'",
  "set datestyle = 'ISO, MDY'",
  "set intervalstyle = 'postgres'",
  'set extra_float_digits = 1',
  "set bytea_output = 'hex'",
];

interface Column {
  name: string;
  type: string;
}

interface Table {
  name: string;
  columns: Column[];
  primaryKey: Column[];
}

export interface TableReport {
  table: string;
  rows: number;
  checksum: string;
}

export interface MoveReport {
  target: string;
  tables: TableReport[];
  migrations: string[];
  phiChecked: { answers: number; files: number };
  seconds: number;
  /** What to set to start on PostgreSQL. */
  settings: Record<string, string>;
}

const quoteIdentifier = (name: string) => `"${name.replace(/"/g, '""')}"`;
const quoteLiteral = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** A URL with its password replaced, for printing. */
export function maskedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(the URL given)';
  }
}

export async function moveToPostgres(
  config: Config,
  targetUrl: string,
  options: { server?: string; log?: (line: string) => void } = {},
): Promise<MoveReport> {
  const log = options.log ?? (() => undefined);
  const started = performance.now();
  if (config.databaseUrl) {
    throw new OperationError(
      'DATABASE_URL is set: the move reads the embedded database in DATA_DIR. Run it with DATABASE_URL unset and ' +
        'the target as its argument.',
    );
  }
  if (!/^postgres(ql)?:\/\//.test(targetUrl)) {
    throw new OperationError('The target must be a postgres:// or postgresql:// URL.');
  }
  const serverUrl = options.server ?? configuredServerUrl(config);
  if (await probeServer(serverUrl)) {
    throw new OperationError(
      `A server runs at ${serverUrl}: stop it first. The move needs the embedded database to itself ` +
        '(nothing may change while it is copied), so it is done in a maintenance window.',
    );
  }
  const directory = path.resolve(config.dataDir, 'pglite');
  if (!existsSync(directory) || (await readdir(directory)).length === 0) {
    throw new OperationError(`No embedded database in ${config.dataDir} (DATA_DIR): nothing to move.`);
  }
  const keyFile = path.resolve(config.dataDir, 'phi.key');
  if (!config.intake.phiEncryptionKey && !existsSync(keyFile)) {
    throw new OperationError(`The PHI key is not here (${keyFile}, or PHI_ENCRYPTION_KEY): the move checks it.`);
  }
  const cipher = phiCipherFor({
    configuredKey: config.intake.phiEncryptionKey,
    oldKeys: config.intake.phiEncryptionOldKeys,
    dataDir: config.dataDir,
    engine: 'pglite',
    inMemory: false,
  });

  const source = await openDatabase({ engine: 'pglite', dataDir: config.dataDir });
  const target = new pg.Client({ connectionString: targetUrl });
  try {
    await migrate(source); // as a server start would: both sides then have the same schema
    for (const setting of SESSION_SETTINGS) await source.query(setting);
    await target.connect().catch((error: Error) => {
      throw new OperationError(`Cannot connect to the target: ${error.message}`);
    });
    for (const setting of SESSION_SETTINGS) await target.query(setting);
    const tables = await tablesOf(source);
    const sourceMigrations = (
      await source.query<{ name: string }>('select name from schema_migrations order by name')
    ).rows.map((row) => row.name);

    await target.query('begin');
    let committed = false;
    try {
      await refuseUnlessEmpty(target, tables, sourceMigrations);
      await migrate(inTransaction(target));
      const targetTables = await tablesOf(clientQueryable(target));
      compareSchemas(tables, targetTables);
      const targetMigrations = (
        await target.query<{ name: string }>('select name from schema_migrations order by name')
      ).rows.map((row) => row.name);
      if (targetMigrations.join() !== sourceMigrations.join()) {
        throw new OperationError('The target applied other migrations than the embedded database has.');
      }

      const reports: TableReport[] = [];
      for (const table of await dependencyOrder(source, tables)) {
        if (table.name === 'schema_migrations') continue;
        const copiedAt = performance.now();
        const rows = await copyTable(source, target, table);
        const expected = await checksum(clientQueryable(source), table);
        const actual = await checksum(clientQueryable(target), table);
        if (expected.rows !== rows || actual.rows !== expected.rows || actual.checksum !== expected.checksum) {
          throw new OperationError(
            `${table.name}: the copy differs (embedded ${expected.rows} rows, checksum ${expected.checksum}; ` +
              `PostgreSQL ${actual.rows} rows, checksum ${actual.checksum}). Nothing was written.`,
          );
        }
        reports.push({ table: table.name, rows: actual.rows, checksum: actual.checksum });
        log(
          `  ${table.name}: ${actual.rows} rows in ${((performance.now() - copiedAt) / 1000).toFixed(1)} s, checksums match`,
        );
      }
      await copySequences(source, target);
      const phiChecked = await checkPhi(clientQueryable(target), cipher);
      await target.query('commit');
      committed = true;
      return {
        target: maskedUrl(targetUrl),
        tables: reports.sort((a, b) => a.table.localeCompare(b.table)),
        migrations: sourceMigrations,
        phiChecked,
        seconds: Math.round((performance.now() - started) / 100) / 10,
        settings: {
          DATABASE_URL: maskedUrl(targetUrl),
          PHI_ENCRYPTION_KEY: config.intake.phiEncryptionKey
            ? '(as now: the same PHI_ENCRYPTION_KEY)'
            : `(the contents of ${keyFile}: every server on PostgreSQL needs it, e.g. PHI_ENCRYPTION_KEY="$(cat ${keyFile})")`,
        },
      };
    } finally {
      if (!committed) await target.query('rollback').catch(() => undefined);
    }
  } finally {
    await target.end().catch(() => undefined);
    await source.close();
  }
}

/** The pg client as the migrator's Database, inside the transaction the move already opened. */
function inTransaction(client: pg.Client): Database {
  const queryable = clientQueryable(client);
  return {
    engine: 'postgres',
    ...queryable,
    transaction: (work) => work(queryable),
    close: async () => undefined,
  };
}

function clientQueryable(client: pg.Client | Queryable): Queryable {
  if (!(client instanceof pg.Client)) return client;
  return {
    query: async <Row>(text: string, params?: readonly unknown[]) => {
      const result = await client.query(text, params as unknown[] | undefined);
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    },
    exec: async (script) => void (await client.query(script)),
  };
}

/** The base tables of the current schema, with their columns in order and their primary key. */
async function tablesOf(db: Queryable): Promise<Table[]> {
  const { rows } = await db.query<{
    table_name: string;
    column_name: string;
    type: string;
    key_position: number | null;
  }>(
    `select c.relname as table_name, a.attname as column_name, format_type(a.atttypid, a.atttypmod) as type,
            array_position(i.indkey::int2[], a.attnum) as key_position
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace and n.nspname = current_schema()
       join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
       left join pg_index i on i.indrelid = c.oid and i.indisprimary
      where c.relkind = 'r'
      order by c.relname, a.attnum`,
  );
  const tables = new Map<string, Table>();
  const keys = new Map<string, { position: number; column: Column }[]>();
  for (const row of rows) {
    const table = tables.get(row.table_name) ?? { name: row.table_name, columns: [], primaryKey: [] };
    tables.set(row.table_name, table);
    const column = { name: row.column_name, type: row.type };
    table.columns.push(column);
    if (row.key_position !== null) {
      keys.set(row.table_name, [...(keys.get(row.table_name) ?? []), { position: row.key_position, column }]);
    }
  }
  for (const [name, key] of keys) {
    tables.get(name)!.primaryKey = key.sort((a, b) => a.position - b.position).map((entry) => entry.column);
  }
  return [...tables.values()];
}

/**
 * Writes nothing to a target holding data: every table it has must be one of ours and empty (a database
 * someone already ran `npm run migrate` on is empty), and its migrations a part of ours.
 */
async function refuseUnlessEmpty(target: pg.Client, tables: Table[], migrations: string[]): Promise<void> {
  const ours = new Set(tables.map((table) => table.name));
  const problems: string[] = [];
  for (const table of await tablesOf(clientQueryable(target))) {
    if (!ours.has(table.name)) {
      problems.push(`table ${table.name} is not one of care360's`);
      continue;
    }
    if (table.name === 'schema_migrations') {
      const { rows } = await target.query<{ name: string }>('select name from schema_migrations');
      const unknown = rows.filter((row) => !migrations.includes(row.name));
      if (unknown.length > 0) problems.push(`migration ${unknown[0]!.name} is not one of this version's`);
      continue;
    }
    const { rows } = await target.query<{ found: boolean }>(
      `select exists (select 1 from ${quoteIdentifier(table.name)}) as found`,
    );
    if (rows[0]!.found) problems.push(`${table.name} has rows`);
  }
  if (problems.length > 0) {
    throw new OperationError(
      `The target database is not empty (${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; ...' : ''}). ` +
        'Nothing was written. Move into a new, empty database.',
    );
  }
}

function compareSchemas(source: Table[], target: Table[]): void {
  const describe = (tables: Table[]) =>
    tables
      .map((table) => `${table.name}(${table.columns.map((column) => `${column.name} ${column.type}`).join(', ')})`)
      .sort();
  const expected = describe(source);
  const actual = describe(target);
  const missing = expected.filter((entry) => !actual.includes(entry));
  const extra = actual.filter((entry) => !expected.includes(entry));
  if (missing.length > 0 || extra.length > 0) {
    throw new OperationError(
      `After the migrations the two schemas differ: ${[...missing.map((m) => `embedded ${m}`), ...extra.map((e) => `PostgreSQL ${e}`)].slice(0, 4).join('; ')}`,
    );
  }
}

/** Tables ordered so that each comes after the tables its foreign keys name. */
async function dependencyOrder(db: Queryable, tables: Table[]): Promise<Table[]> {
  const { rows } = await db.query<{ child: string; parent: string }>(
    `select c.relname as child, p.relname as parent
       from pg_constraint k
       join pg_class c on c.oid = k.conrelid
       join pg_class p on p.oid = k.confrelid
       join pg_namespace n on n.oid = c.relnamespace and n.nspname = current_schema()
      where k.contype = 'f' and c.oid <> p.oid`,
  );
  const parents = new Map<string, Set<string>>();
  for (const { child, parent } of rows) parents.set(child, (parents.get(child) ?? new Set()).add(parent));
  const ordered: Table[] = [];
  const done = new Set<string>();
  let remaining = [...tables];
  while (remaining.length > 0) {
    const ready = remaining.filter((table) => [...(parents.get(table.name) ?? [])].every((parent) => done.has(parent)));
    if (ready.length === 0)
      throw new OperationError(`Foreign keys form a cycle among ${remaining.map((t) => t.name).join(', ')}`);
    for (const table of ready) {
      ordered.push(table);
      done.add(table.name);
    }
    remaining = remaining.filter((table) => !done.has(table.name));
  }
  return ordered;
}

/**
 * One table, in primary-key order, in batches: the key of each batch's last row is read first (an index
 * look-up), then the rows up to it go as COPY text from the embedded engine into the target. The batch
 * size follows the rows' size, so a table of large files moves in batches as bounded as one of small rows.
 */
async function copyTable(source: Database, target: pg.Client, table: Table): Promise<number> {
  const columns = table.columns.map((column) => quoteIdentifier(column.name)).join(', ');
  const into = `copy ${quoteIdentifier(table.name)} (${columns}) from stdin`;
  const name = quoteIdentifier(table.name);
  const send = async (select: string) => {
    const blob = await source.copyToBlob!(`copy (${select}) to '/dev/blob'`);
    const bytes = new Uint8Array(await blob.arrayBuffer());
    if (bytes.length > 0) await pipeline(Readable.from([bytes]), target.query(copyFrom(into)));
    return bytes.length;
  };
  if (table.primaryKey.length === 0) {
    await send(`select ${columns} from ${name}`);
  } else {
    const key = table.primaryKey;
    const keyList = `(${key.map((column) => quoteIdentifier(column.name)).join(', ')})`;
    const literal = (values: string[]) =>
      `(${values.map((value, index) => `${quoteLiteral(value)}::${key[index]!.type}`).join(', ')})`;
    const keyText = key.map((column, index) => `${quoteIdentifier(column.name)}::text as k${index}`).join(', ');
    let after: string[] | null = null;
    let batchRows = FIRST_BATCH_ROWS;
    for (;;) {
      const from: string = after ? `where ${keyList} > ${literal(after)}` : '';
      const { rows }: { rows: Record<string, string>[] } = await source.query<Record<string, string>>(
        `select ${keyText} from ${name} ${from} order by ${keyList} offset ${batchRows - 1} limit 1`,
      );
      const last: string[] | null = rows[0] ? key.map((_, index) => rows[0]![`k${index}`]!) : null;
      const upTo = last ? `${from ? `${from} and` : 'where'} ${keyList} <= ${literal(last)}` : from;
      const bytes = await send(`select ${columns} from ${name} ${upTo} order by ${keyList}`);
      if (!last) break;
      after = last;
      batchRows = Math.max(1, Math.min(MAX_BATCH_ROWS, Math.floor(BATCH_BYTES / Math.max(1, bytes / batchRows))));
    }
  }
  const { rows } = await target.query<{ n: number }>(`select count(*)::int as n from ${name}`);
  return rows[0]!.n;
}

/**
 * A table's row count and checksum, computed the same way on both engines: the sum, over its rows, of two
 * 60-bit slices of the MD5 of the row's text (every column, in order). Any changed, lost or added row
 * changes it; it needs no sort and no memory beyond the running sums.
 */
async function checksum(db: Queryable, table: Table): Promise<{ rows: number; checksum: string }> {
  const columns = table.columns.map((column) => quoteIdentifier(column.name)).join(', ');
  const { rows } = await db.query<{ rows: number; high: string; low: string }>(
    `select count(*)::int as rows,
            coalesce(sum(('x' || substr(h, 1, 15))::bit(60)::bigint), 0)::text as high,
            coalesce(sum(('x' || substr(h, 16, 15))::bit(60)::bigint), 0)::text as low
       from (select md5(row(${columns})::text) as h from ${quoteIdentifier(table.name)}) hashed`,
  );
  const row = rows[0]!;
  return { rows: row.rows, checksum: `${BigInt(row.high).toString(16)}:${BigInt(row.low).toString(16)}` };
}

/** Sequences (none today) continue where the embedded database left them. */
async function copySequences(source: Database, target: pg.Client): Promise<void> {
  const { rows } = await source.query<{ name: string; value: string | null }>(
    `select sequencename as name, last_value::text as value from pg_sequences where schemaname = current_schema()`,
  );
  for (const { name, value } of rows) {
    if (value !== null) await target.query('select setval($1::regclass, $2::bigint)', [quoteIdentifier(name), value]);
  }
}

/** The target holds PHI written with this key: its check value, and a sample of answers and files decrypted. */
async function checkPhi(
  target: Queryable,
  cipher: ReturnType<typeof phiCipherFor>,
): Promise<{ answers: number; files: number }> {
  const { currentKeyId, oldKeyIds } = await cipher.describe();
  const missing = await missingPhiKeyIds(target, [currentKeyId, ...oldKeyIds]);
  if (missing.length > 0) {
    throw new OperationError(
      `The PHI key here is not the key the embedded database was written with (it holds PHI under key ` +
        `${missing.join(', ')}). Nothing was written.`,
    );
  }
  const { rows: answers } = await target.query<{ encrypted_value: string }>(
    `select encrypted_value from answers where encrypted_value is not null order by id limit ${PHI_SAMPLE}`,
  );
  const { rows: files } = await target.query<{ content: Buffer }>(
    `select content from file_contents order by storage_key limit ${PHI_SAMPLE}`,
  );
  try {
    for (const answer of answers) await cipher.decryptText(answer.encrypted_value);
    for (const file of files) await cipher.decryptBytes(file.content);
  } catch {
    throw new OperationError('PHI on the target does not decrypt with this PHI key. Nothing was written.');
  }
  return { answers: answers.length, files: files.length };
}
