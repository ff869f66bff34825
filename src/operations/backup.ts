import { missingPhiKeyIds } from '../crypto/phi-key-check.ts';
import { ADMIN_SECURITY } from '../http/admin.ts';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { create as createTar, extract as extractTar } from 'tar';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { phiCipherFor } from '../crypto/phi.ts';
import { openDatabase, type Database } from '../db/database.ts';
import { ApiError } from '../http/api-error.ts';
import { configuredServerUrl, OperationError, probeServer } from './server-probe.ts';
import { errorResponses } from '../http/envelopes.ts';

/**
 * Backups of the embedded database (docs/operations.md). A backup is a gzipped tarball of its data
 * directory (`pglite/` inside: `tar tzf` lists it), copied between transactions after a checkpoint
 * (`Database.snapshotTo`), so it opens without recovery; the copy is packed after the database is released,
 * as it streams. It never holds the PHI key: the key lives beside that directory (DATA_DIR/phi.key) or in
 * PHI_ENCRYPTION_KEY, and a restore needs it given separately.
 *
 * The data directory can be open in one process only. While a server runs, the backup is taken by the
 * server (GET /admin/v1/backup, ADMIN_TOKEN) and streamed to the command; with no server, the command
 * opens the directory itself. PostgreSQL is backed up with pg_dump.
 */

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

const PG_DUMP_ADVICE =
  'This configuration runs on PostgreSQL (DATABASE_URL): back it up with pg_dump --format=custom and restore with ' +
  'pg_restore (docs/operations.md, "Back up and restore").';

/** GET /admin/v1/backup: a consistent snapshot of the embedded database, streamed as it is written. */
export function adminBackupRoutes(db: Database, dataDir: string): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/backup',
      {
        config: {
          auth: 'admin',
          envelope: 'standard',
          timeLimit: false, // a large database takes longer than REQUEST_TIMEOUT_MS to copy
          audit: { action: 'database.backup', resourceType: 'database' },
        },
        schema: {
          tags: ['admin'],
          summary: 'Back up the embedded database (a gzipped tarball of its data directory, without the PHI key)',
          description:
            'Statements wait while the snapshot is taken. On PostgreSQL, answers 409: use pg_dump. ' +
            'npm run cli -- backup <file> calls this route when a server runs. See docs/operations.md.',
          security: ADMIN_SECURITY,
          response: {
            200: z.any().describe('application/gzip: the backup'),
            ...errorResponses('standard', [401, 403, 409]),
          },
        },
      },
      async (_request, reply) => {
        if (db.engine === 'postgres')
          throw new ApiError(409, PG_DUMP_ADVICE.replace('This configuration', 'This server'));
        if (!db.snapshotTo) throw new ApiError(409, 'This database is in memory: there is nothing to back up.');
        const backup = await backupStream(db, dataDir);
        return reply
          .header('content-type', 'application/gzip')
          .header('content-disposition', `attachment; filename="${backupFileName()}"`)
          .send(backup);
      },
    );
  };
}

/**
 * The backup as a stream: the consistent copy made in a folder beside the database (the same file system, so a
 * copy-on-write clone where it can), then packed and compressed as it is read, and the copy removed after.
 */
async function backupStream(db: Database, dataDir: string): Promise<Readable> {
  const staging = await mkdtemp(path.join(path.resolve(dataDir), '.backup-'));
  try {
    await db.snapshotTo!(path.join(staging, 'pglite'));
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  const packed = createTar({ gzip: true, cwd: staging, portable: true }, ['pglite']) as unknown as Readable;
  const stream = Readable.from(packed);
  stream.once('close', () => void rm(staging, { recursive: true, force: true }));
  return stream;
}

export function backupFileName(now = new Date()): string {
  return `care360-${now.toISOString().replace(/[:.]/g, '-')}.tar.gz`;
}

/** Writes a stream to `file` through a temporary name beside it, so a failed backup leaves no partial file. */
async function writeNew(file: string, source: NodeJS.ReadableStream | Readable): Promise<number> {
  const staging = `${file}.partial-${process.pid}`;
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const handle = await open(staging, 'wx', 0o600);
  try {
    await pipeline(source, handle.createWriteStream());
    await handle.close().catch(() => undefined);
    if (existsSync(file)) throw new OperationError(`${file} appeared during the backup; it was left as it is.`);
    await rename(staging, file);
    return (await stat(file)).size;
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(staging, { force: true });
    throw error;
  }
}

export interface BackupResult {
  file: string;
  bytes: number;
  /** `server`: taken by the running server; `data folder`: the command opened DATA_DIR itself. */
  takenBy: 'server' | 'data folder';
}

/** `npm run cli -- backup <file>`. */
export async function backup(config: Config, file: string, options: { server?: string } = {}): Promise<BackupResult> {
  if (config.databaseUrl) throw new OperationError(PG_DUMP_ADVICE);
  if (existsSync(file)) throw new OperationError(`${file} exists already: name a new file.`);
  const serverUrl = options.server ?? configuredServerUrl(config);
  const server = await probeServer(serverUrl);
  if (server) {
    if (server.engine === 'postgres') {
      throw new OperationError(`The server at ${serverUrl} runs on PostgreSQL. ${PG_DUMP_ADVICE}`);
    }
    if (!config.adminToken) {
      throw new OperationError(
        `A server runs at ${serverUrl} and holds the data folder open: the backup is taken through it. ` +
          'Set ADMIN_TOKEN to its admin token (as in its environment).',
      );
    }
    const response = await fetch(new URL('/admin/v1/backup', serverUrl), {
      headers: { authorization: `Bearer ${config.adminToken}` },
    });
    if (response.status !== 200 || !response.body) {
      const detail = await response.text().catch(() => '');
      throw new OperationError(
        response.status === 401
          ? `The server at ${serverUrl} refused ADMIN_TOKEN.`
          : `The server at ${serverUrl} answered ${response.status} to GET /admin/v1/backup: ${detail.slice(0, 500)}`,
      );
    }
    const bytes = await writeNew(file, Readable.fromWeb(response.body as Parameters<typeof Readable.fromWeb>[0]));
    return { file, bytes, takenBy: 'server' };
  }
  const directory = path.resolve(config.dataDir, 'pglite');
  if (!existsSync(directory) || (await readdir(directory)).length === 0) {
    throw new OperationError(`No embedded database in ${config.dataDir} (DATA_DIR): nothing to back up.`);
  }
  const db = await openDatabase({ engine: 'pglite', dataDir: config.dataDir });
  try {
    const bytes = await writeNew(file, await backupStream(db, config.dataDir));
    return { file, bytes, takenBy: 'data folder' };
  } finally {
    await db.close();
  }
}

export interface RestoreResult {
  file: string;
  dataDir: string;
  /** Where the database that was in DATA_DIR went (--force), or null when there was none. */
  previousMovedTo: string | null;
  migrations: number;
  rows: Record<string, number>;
}

/**
 * `npm run cli -- restore <file>`: the backup becomes DATA_DIR's database. Refused while a server answers at
 * the configured address, when the PHI key is not there (a backup never holds it), and when the key is not the
 * one the backup was written with; nothing in DATA_DIR changes then. A database already in DATA_DIR is moved
 * aside (never deleted) with --force, and refused without it.
 */
export async function restore(
  config: Config,
  file: string,
  options: { force?: boolean; server?: string } = {},
): Promise<RestoreResult> {
  if (config.databaseUrl) throw new OperationError(PG_DUMP_ADVICE);
  const serverUrl = options.server ?? configuredServerUrl(config);
  if (await probeServer(serverUrl)) {
    throw new OperationError(`A server runs at ${serverUrl}: stop it first (a restore replaces its data folder).`);
  }
  const head = Buffer.alloc(2);
  await open(file)
    .then(async (handle) => {
      await handle.read(head, 0, 2, 0);
      await handle.close();
    })
    .catch((error: NodeJS.ErrnoException) => {
      throw new OperationError(`Cannot read ${file}: ${error.code ?? error.message}`);
    });
  if (!head.equals(GZIP_MAGIC)) {
    throw new OperationError(`${file} is not a care360 backup (a gzipped tarball of the embedded database).`);
  }
  const keyFile = path.resolve(config.dataDir, 'phi.key');
  if (!config.intake.phiEncryptionKey && !existsSync(keyFile)) {
    throw new OperationError(
      `The PHI key is not here: a backup never holds it. Copy the phi.key of the server the backup comes from to ` +
        `${keyFile} (mode 0600), or set PHI_ENCRYPTION_KEY to it, then restore again.`,
    );
  }

  const dataDir = path.resolve(config.dataDir);
  const target = path.join(dataDir, 'pglite');
  const occupied = existsSync(target) && (await readdir(target)).length > 0;
  if (occupied && !options.force) {
    throw new OperationError(
      `${target} holds a database already. Restore into another DATA_DIR, or pass --force to move it aside ` +
        '(it is renamed, never deleted).',
    );
  }

  const staging = path.join(dataDir, `.restore-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    // Only the database folder is taken from the archive (tar refuses absolute paths and `..` itself).
    await extractTar({ file, cwd: staging, strict: true, filter: (entry) => /^pglite(\/|$)/.test(entry) }).catch(
      (error: Error) => {
        throw new OperationError(`${file} could not be read as a backup: ${error.message}`);
      },
    );
    if (!existsSync(path.join(staging, 'pglite', 'PG_VERSION'))) {
      throw new OperationError(`${file} holds no embedded database (no pglite/PG_VERSION).`);
    }
    const db = await openDatabase({ engine: 'pglite', dataDir: staging });
    let migrations: number;
    let rows: Record<string, number>;
    try {
      ({ migrations, rows } = await checkRestored(db, config));
    } finally {
      await db.close();
    }
    let previousMovedTo: string | null = null;
    if (occupied) {
      previousMovedTo = `${target}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await rename(target, previousMovedTo);
    } else {
      await rm(target, { recursive: true, force: true }); // missing or empty
    }
    await rename(path.join(staging, 'pglite'), target);
    return { file, dataDir, previousMovedTo, migrations, rows };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** A restored database is care360's, written with this PHI key, and its PHI decrypts. */
async function checkRestored(
  db: Database,
  config: Config,
): Promise<{ migrations: number; rows: Record<string, number> }> {
  const migrations = await db.query<{ n: number }>('select count(*)::int as n from schema_migrations').catch(() => {
    throw new OperationError('The backup holds no care360 database (no schema_migrations table).');
  });
  const cipher = phiCipherFor({
    configuredKey: config.intake.phiEncryptionKey,
    oldKeys: config.intake.phiEncryptionOldKeys,
    dataDir: config.dataDir,
    engine: 'pglite',
    inMemory: false,
  });
  const { currentKeyId, oldKeyIds } = await cipher.describe();
  const missing = await missingPhiKeyIds(db, [currentKeyId, ...oldKeyIds]);
  if (missing.length > 0) {
    throw new OperationError(
      `The PHI key here is not the key this backup was written with (it holds PHI under key ${missing.join(', ')}): ` +
        'with it, that PHI could not be read. Put the original phi.key in DATA_DIR or set PHI_ENCRYPTION_KEY ' +
        '(and PHI_ENCRYPTION_OLD_KEYS) to it.',
    );
  }
  const { rows: sealed } = await db.query<{ encrypted_value: string }>(
    'select encrypted_value from answers where encrypted_value is not null limit 1',
  );
  if (sealed[0]) await cipher.decryptText(sealed[0].encrypted_value);
  const rows: Record<string, number> = {};
  for (const table of ['organizations', 'cases', 'case_payments', 'audit_events']) {
    const { rows: counted } = await db.query<{ n: number }>(`select count(*)::int as n from ${table}`);
    rows[table] = counted[0]!.n;
  }
  return { migrations: migrations.rows[0]!.n, rows };
}
