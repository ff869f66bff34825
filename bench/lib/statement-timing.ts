import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createServices, type Services } from '../../src/services.ts';
import { median } from './stats.ts';

/** Each statement's durations, by the start of its text (`keyLength` characters, white space folded). */
export type StatementTimes = Map<string, number[]>;

/** What a statement-times run works with: the app over the timed database, and an organization of its own. */
export interface TimedRun {
  app: FastifyInstance;
  services: Services;
  engine: Database['engine'];
  times: StatementTimes;
  adminHeaders: { authorization: string };
  apiKey: string;
  organizationId: string;
}

/** The Database with each statement's duration noted in `times`. */
function timed(db: Database, times: StatementTimes, keyLength: number): Database {
  return {
    ...db,
    query: async (text, params) => {
      const started = performance.now();
      try {
        return await db.query(text, params);
      } finally {
        const key = text.replace(/\s+/g, ' ').trim().slice(0, keyLength);
        if (!times.has(key)) times.set(key, []);
        times.get(key)!.push(performance.now() - started);
      }
    },
    exec: (script) => db.exec(script),
    transaction: (work) => db.transaction(work),
    close: () => db.close(),
  };
}

/**
 * Runs `work` over an app built in this process on a timing wrapper of the Database: PGlite in a temporary
 * directory, or the PostgreSQL database `url` names (one the run may fill). `environment` adds to the config.
 */
export async function withTimedApp(
  options: { name: string; url?: string; keyLength: number; environment?: Record<string, string> },
  work: (run: TimedRun) => Promise<void>,
): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `care360-${options.name}-`));
  const db = options.url
    ? await openDatabase({ engine: 'postgres', url: options.url })
    : await openDatabase({ engine: 'pglite', dataDir });
  const times: StatementTimes = new Map();
  try {
    await migrate(db);
    const adminToken = randomBytes(16).toString('hex');
    const config = loadConfig({
      ADMIN_TOKEN: adminToken,
      LOG_LEVEL: 'silent',
      DATA_DIR: dataDir,
      PHI_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      RATE_LIMIT_PER_KEY: '1000000000',
      RATE_LIMIT_PER_ADDRESS: '1000000000',
      ...options.environment,
    });
    const timedDb = timed(db, times, options.keyLength);
    const services = createServices(timedDb, config);
    const app = await buildApp({ config, db: timedDb, services, logger: false });
    try {
      const adminHeaders = { authorization: `Bearer ${adminToken}` };
      const organization = await app.inject({
        method: 'POST',
        url: '/admin/v1/organizations',
        headers: adminHeaders,
        payload: { name: `${options.name} ${Date.now()}` },
      });
      const { apiKey, organizationId } = organization.json<{ apiKey: string; organizationId: string }>();
      await work({ app, services, engine: db.engine, times, adminHeaders, apiKey, organizationId });
    } finally {
      await app.close();
    }
  } finally {
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

/** Prints a line per statement (count, mean, median, and per unit of work when `perUnit` is given); answers the sum. */
export function printStatementTimes(times: StatementTimes, keyLength: number, perUnit?: number): number {
  let total = 0;
  for (const [statement, samples] of times) {
    const sum = samples.reduce((a, b) => a + b, 0);
    total += sum;
    const perUnitText = perUnit === undefined ? '' : `  per intake ${(sum / perUnit).toFixed(3)} ms`;
    console.log(
      `  ${statement.padEnd(keyLength)}  ${String(samples.length).padStart(6)}x  mean ${(sum / samples.length).toFixed(3)} ms` +
        `  median ${median(samples).toFixed(3)} ms${perUnitText}`,
    );
  }
  return total;
}

/** Runs a benchmark's main, printing its failure and exiting 1. */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  });
}
