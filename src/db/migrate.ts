import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Umzug, type UmzugStorage } from 'umzug';
import { projectPath } from '../paths.ts';
import type { Database, Queryable } from './database.ts';

const migrationsDirectory = projectPath('src', 'db', 'migrations');

/** An arbitrary constant: every process that migrates takes this advisory lock first. */
const MIGRATION_LOCK_ID = 36_036_036;

/**
 * One ordered set of plain SQL files (`NNNN_name.sql`) for both engines, applied by umzug.
 * All pending files and their bookkeeping rows run in one transaction, under an advisory lock, so two
 * processes starting together on one PostgreSQL apply each migration exactly once, and a failed file
 * leaves nothing half applied.
 */
export async function migrate(database: Database): Promise<string[]> {
  return database.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
    const umzug = await migrator(tx);
    const applied = await umzug.up();
    return applied.map((migration) => migration.name);
  });
}

export async function migrationStatus(database: Database): Promise<{ name: string; applied: boolean }[]> {
  const umzug = await migrator(database);
  const [executed, pending] = await Promise.all([umzug.executed(), umzug.pending()]);
  return [
    ...executed.map((migration) => ({ name: migration.name, applied: true })),
    ...pending.map((migration) => ({ name: migration.name, applied: false })),
  ];
}

/** Umzug over our migration files, with its bookkeeping in `schema_migrations` (created when missing). */
async function migrator(connection: Queryable): Promise<Umzug<Queryable>> {
  await connection.query(`create table if not exists schema_migrations (
    name text primary key,
    applied_at timestamptz not null default now()
  )`);
  const files = (await readdir(migrationsDirectory)).filter((file) => /^\d{4}_.+\.sql$/.test(file)).sort();
  const storage: UmzugStorage = {
    async executed() {
      const { rows } = await connection.query<{ name: string }>('select name from schema_migrations order by name');
      return rows.map((row) => row.name);
    },
    async logMigration({ name }) {
      await connection.query('insert into schema_migrations (name) values ($1)', [name]);
    },
    async unlogMigration({ name }) {
      await connection.query('delete from schema_migrations where name = $1', [name]);
    },
  };
  return new Umzug({
    context: connection,
    storage,
    logger: undefined,
    migrations: files.map((file) => ({
      name: file.replace(/\.sql$/, ''),
      async up({ context }) {
        await context.exec(await readFile(path.join(migrationsDirectory, file), 'utf8'));
      },
    })),
  });
}
