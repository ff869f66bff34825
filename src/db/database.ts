import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, existsSync, readdirSync } from 'node:fs';
import { cp, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { PGlite, protocol, types } from '@electric-sql/pglite';
import pg from 'pg';
import { DataDirLock } from './data-dir-lock.ts';
import { projectPath } from '../paths.ts';
import { PgliteStatements } from './pglite-statements.ts';

/**
 * The one way the application talks to PostgreSQL. Both engines speak the same SQL, so repositories
 * are written once: PGlite (embedded, WASM) when DATABASE_URL is unset, a `pg` pool otherwise.
 *
 * Conventions that keep results identical on both engines: no int8 in results (pg returns strings,
 * PGlite numbers), jsonb parameters passed as JSON text with an explicit `::jsonb` cast.
 */
export interface Queryable {
  query<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<Row>>;
  /** Runs a script of several statements, without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

export interface Database extends Queryable {
  readonly engine: 'pglite' | 'postgres';
  /** True for an in-memory PGlite (tests): nothing it holds outlives the process. */
  readonly inMemory?: boolean;
  /** PGlite in a data folder: this process's lock on it (src/db/data-dir-lock.ts), held until close. */
  readonly dataDirLock?: DataDirLock;
  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /** PostgreSQL: the pool's size, connections open and idle, and queries waiting for one (metrics). */
  poolState?(): { size: number; total: number; idle: number; waiting: number };
  /**
   * Embedded, in a data folder: copies a consistent image of the data directory into `target` (a new folder),
   * between transactions and after a checkpoint; statements wait while the files are copied
   * (src/operations/backup.ts).
   */
  snapshotTo?(target: string): Promise<void>;
  /** Embedded: the output of one `COPY ... TO '/dev/blob'` statement (src/operations/move-to-postgres.ts). */
  copyToBlob?(statement: string): Promise<Blob>;
  /** Embedded, in memory: the data directory as an uncompressed tarball, to open again with `loadDataDir`. */
  dumpDataDir?(): Promise<Blob>;
}

/** The names of the SQL texts marked with `prepared`, by text. */
const preparedStatementNames = new Map<string, string>();

/**
 * Marks a constant SQL text of a hot path to be sent as a named prepared statement on PostgreSQL:
 * each pooled connection parses and plans it once, then only binds and executes it. Returns the text
 * unchanged, so a repository writes `const FIND = prepared('select ...')` and queries FIND as usual.
 * Only for texts fixed in the code: a server keeps every statement a connection prepared until the
 * connection closes. On PGlite it is prepared once in its one session, and each execution is one call
 * into the engine instead of six (src/db/pglite-statements.ts).
 */
export function prepared(text: string): string {
  if (!preparedStatementNames.has(text)) {
    preparedStatementNames.set(text, `care360_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`);
  }
  return text;
}

/** The prepared-statement name of a text marked with `prepared`, else undefined (an unnamed statement). */
export function preparedStatementName(text: string): string | undefined {
  return preparedStatementNames.get(text);
}

/** PGlite without a dataDir is in memory: empty, or started from a tarball of `dumpDataDir` (loadDataDir). */
export type DatabaseOptions =
  { engine: 'pglite'; dataDir?: string; loadDataDir?: Blob } | { engine: 'postgres'; url: string; poolSize?: number };

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.engine === 'pglite'
    ? openPglite(options.dataDir, options.loadDataDir)
    : openPostgres(options.url, options.poolSize ?? 10);
}

/**
 * PostgreSQL's settings for the embedded engine: PGlite's own, with 8 MB of shared buffers instead of
 * 128 MB. PGlite is one process's heap and a WASM heap never shrinks, so the buffers are paid for in
 * resident memory; pages beyond them are read from the data directory through the OS page cache.
 */
const PGLITE_START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=8MB'];

/**
 * bytea as the pg driver moves it. PGlite's own serializer writes a parameter as hex text through a
 * JavaScript array of one string per byte, and its parser reads a value back one `parseInt` per byte, so a
 * file costs megabytes of garbage (measured in docs/performance.md). A parameter returned as bytes is bound
 * in binary format instead (PostgreSQL's bytea_recv takes it as it is), and a result's hex text
 * (`\x...`) is decoded natively.
 */
const PGLITE_TYPES = {
  serializers: { [types.BYTEA]: (value: unknown) => toBytes(value) as unknown as string },
  parsers: { [types.BYTEA]: (text: string) => Buffer.from(text.slice(2), 'hex') },
};

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new TypeError('A bytea parameter must be a Buffer or Uint8Array');
}

async function openPglite(dataDir: string | undefined, loadDataDir: Blob | undefined): Promise<Database> {
  let client: PGlite;
  let lock: DataDirLock | undefined;
  const options = { startParams: PGLITE_START_PARAMS, ...PGLITE_TYPES };
  if (dataDir) {
    // One owner at a time: taken before anything in the folder is read or written.
    lock = await DataDirLock.acquire(dataDir, stopWithoutTheLock);
    try {
      const directory = path.resolve(dataDir, 'pglite');
      if (!existsSync(directory) || readdirSync(directory).length === 0) await initializePgliteDirectory(directory);
      client = await PGlite.create(directory, { ...options, relaxedDurability: true });
    } catch (error) {
      await lock.release();
      throw error;
    }
  } else {
    // From a tarball, PGlite skips initdb: the start of an in-memory database that tests pay once per file.
    client = await PGlite.create({ ...options, ...(loadDataDir ? { loadDataDir } : {}) });
  }
  const statements = new PgliteStatements(client);
  const run = async <Row>(
    target: Pick<PGlite, 'query'>,
    inTransaction: boolean,
    text: string,
    params?: readonly unknown[],
  ) => {
    const name = preparedStatementNames.get(text);
    const result = name
      ? await statements.query<Row>(name, text, params ?? [], inTransaction)
      : await target.query<Row>(text, params as unknown[] | undefined);
    // As pg counts: the command tag's count (rows returned, inserted, updated or deleted).
    return { rows: result.rows, rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length };
  };
  return {
    engine: 'pglite',
    inMemory: !dataDir,
    ...(lock ? { dataDirLock: lock } : {}),
    query: (text, params) => run(client, false, text, params),
    exec: async (script) => void (await client.exec(script)),
    transaction: (work) =>
      client.transaction((tx) =>
        work({
          query: (text, params) => run(tx, true, text, params),
          exec: async (script) => void (await tx.exec(script)),
        }),
      ),
    close: async () => {
      await client.close();
      await lock?.release();
    },
    ...(dataDir
      ? { snapshotTo: (target: string) => snapshotOf(client, path.resolve(dataDir, 'pglite'), target) }
      : { dumpDataDir: () => client.dumpDataDir('none') }),
    async copyToBlob(statement) {
      const { blob } = await client.query(statement);
      return blob ?? new Blob([]); // no rows: PGlite returns no blob
    },
  };
}

/** Another process took the data folder's lock (this one stalled past its heartbeat): stop writing at once. */
function stopWithoutTheLock(message: string): never {
  process.stderr.write(`care360: ${message}; stopping so that two processes never write one embedded database\n`);
  process.exit(1);
}

/**
 * The data directory copied file by file into `target`, consistent: under PGlite's transaction mutex (no
 * transaction is open, none starts) and its query mutex (no statement runs), after a CHECKPOINT (every change
 * is in the data files, so the copy opens without recovery). A copy-on-write clone where the file system
 * offers one, a plain copy otherwise: the pause is the time to copy the folder, and no byte of it is held in
 * memory (PGlite's own dumpDataDir builds the whole tarball in memory and pauses every statement meanwhile;
 * docs/performance.md).
 */
function snapshotOf(client: PGlite, directory: string, target: string): Promise<void> {
  const internals = client as unknown as {
    _runExclusiveTransaction<T>(work: () => Promise<T>): Promise<T>;
    _runExclusiveQuery<T>(work: () => Promise<T>): Promise<T>;
  };
  return internals._runExclusiveTransaction(() =>
    internals._runExclusiveQuery(async () => {
      await client.execProtocol(protocol.serialize.query('checkpoint'));
      await cp(directory, target, {
        recursive: true,
        errorOnExist: true,
        force: false,
        mode: constants.COPYFILE_FICLONE,
      });
    }),
  );
}

/**
 * initdb for a new data directory, in a child process (src/db/pglite-init.mjs): its WASM heap (several
 * hundred MB) would otherwise stay in the server's resident memory for good. Only for a directory that
 * is missing or empty; anything else is opened as it is. It works in a sibling
 * folder renamed into place when complete, so an interrupted first start leaves no half-made database.
 * The child runs with this process's node flags and environment, so the memory settings the launcher gave
 * the server (bin/care360.mjs) hold for its initdb too; not a debugger's or a profiler's, which would
 * contend with this process's for their port or files.
 */
async function initializePgliteDirectory(directory: string): Promise<void> {
  const script = projectPath('src', 'db', 'pglite-init.mjs');
  const staging = `${directory}.init-${process.pid}`;
  await mkdir(path.dirname(directory), { recursive: true });
  await rm(staging, { recursive: true, force: true });
  try {
    const flags = process.execArgv.filter((flag) => !/^--(inspect|cpu-prof|heap-prof)/.test(flag));
    await promisify(execFile)(process.execPath, [...flags, script, staging], { timeout: 120_000 });
    await rm(directory, { recursive: true, force: true }); // empty: nothing is lost
    await rename(staging, directory);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

async function openPostgres(url: string, poolSize: number): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle client that loses its connection must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  // A backend ended just as its connection is made can say so (57P01) in the same read as its ReadyForQuery:
  // after the pool has handed the new client to `transaction` and before `transaction` listens on it. An
  // 'error' event with no listener ends the process; with this one, the statement that uses the client fails
  // instead (503), and the pool drops the client on its release.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const run = async <Row>(target: pg.Pool | pg.PoolClient, text: string, params?: readonly unknown[]) => {
    const name = preparedStatementNames.get(text);
    const result = await target.query({ text, values: params as unknown[] | undefined, ...(name ? { name } : {}) });
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
  };
  // Fail at start-up, not at the first request, when the server is unreachable.
  await run(pool, 'select 1');
  return {
    engine: 'postgres',
    query: (text, params) => run(pool, text, params),
    exec: async (script) => void (await pool.query(script)),
    async transaction(work) {
      const client = await pool.connect();
      // The pool listens for errors only on idle clients. A backend terminated while its client is checked
      // out (pg_terminate_backend, a failover, idle_in_transaction_session_timeout) emits 'error' here, and
      // with no listener that ends the process. The statement in flight fails with it (PostgreSQL rolls the
      // transaction back), the client is dropped from the pool, and the next one gets a new connection.
      let lost: Error | undefined;
      const onError = (error: Error) => void (lost ??= error);
      client.on('error', onError);
      try {
        await client.query('begin');
        const result = await work({
          query: (text, params) => run(client, text, params),
          exec: async (script) => void (await client.query(script)),
        });
        await client.query('commit');
        return result;
      } catch (error) {
        if (!lost) await client.query('rollback').catch(() => undefined);
        throw error;
      } finally {
        client.off('error', onError);
        client.release(lost);
      }
    },
    close: () => pool.end(),
    poolState: () => ({ size: poolSize, total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
  };
}

/**
 * SQLSTATEs of a connection that is gone or refused: class 08 (connection exception), the server's
 * shutdowns and its terminations of a backend (57P01 pg_terminate_backend, 57P02, 57P03), the idle
 * timeouts (25P03 in a transaction, 57P05 idle session), and too many connections (53300).
 */
const CONNECTION_SQLSTATES = new Set(['57P01', '57P02', '57P03', '25P03', '57P05', '53300']);
const CONNECTION_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);

/**
 * Whether an error means the database connection was lost or could not be made, rather than that the
 * statement was wrong: the request may be retried (503). pg reports a connection that ends under a
 * query without a code, by these messages.
 */
export function isConnectionLost(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (code.startsWith('08') || CONNECTION_SQLSTATES.has(code))) return true;
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
  return (
    typeof message === 'string' && (message.startsWith('Connection terminated') || message.endsWith('is not queryable'))
  );
}

/**
 * Runs `work` in a transaction, and again on a new connection when the connection is lost (up to `attempts` times,
 * 50 ms apart and doubling): for recording what a payment gateway has already done, which no retry of the request
 * could recover. `work` must be idempotent: a commit whose answer was lost runs it again.
 */
export async function transactionSurvivingConnectionLoss<T>(
  db: Database,
  work: (tx: Queryable) => Promise<T>,
  attempts = 5,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await db.transaction(work);
    } catch (error) {
      if (attempt >= attempts || !isConnectionLost(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** (attempt - 1)));
    }
  }
}

/** PostgreSQL's SQLSTATE for a unique-constraint violation. */
export const UNIQUE_VIOLATION = '23505';

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, constraint: violated } = error as { code?: string; constraint?: string };
  return code === UNIQUE_VIOLATION && (constraint === undefined || violated === constraint);
}
