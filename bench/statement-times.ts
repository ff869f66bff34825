/**
 * Where an intake's database time goes, statement by statement: `node --import tsx bench/statement-times.ts
 * [--count=3000] [--url=postgres://...]`. Builds the app in this process over a timing wrapper of the Database
 * (PGlite in a temporary directory, or the PostgreSQL database --url names, which must be one the run may fill),
 * sends --count intakes by form title one after another through `app.inject` (no HTTP, no concurrency: each
 * audit event is written alone), and prints the intake rate and each statement's mean and median time.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { intakeByTitle, UNIQUE } from './lib/bodies.ts';
import { median } from './lib/stats.ts';

const { values: args } = parseArgs({ options: { count: { type: 'string' }, url: { type: 'string' } } });
const count = Number(args.count ?? 3000);

function timed(db: Database, times: Map<string, number[]>): Database {
  return {
    ...db,
    query: async (text, params) => {
      const started = performance.now();
      try {
        return await db.query(text, params);
      } finally {
        const key = text.replace(/\s+/g, ' ').trim().slice(0, 48);
        if (!times.has(key)) times.set(key, []);
        times.get(key)!.push(performance.now() - started);
      }
    },
    exec: (script) => db.exec(script),
    transaction: (work) => db.transaction(work),
    close: () => db.close(),
  };
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'care360-statement-times-'));
  const db = args.url
    ? await openDatabase({ engine: 'postgres', url: args.url })
    : await openDatabase({ engine: 'pglite', dataDir });
  const times = new Map<string, number[]>();
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
    });
    const app = await buildApp({ config, db: timed(db, times), logger: false });
    try {
      const organization = await app.inject({
        method: 'POST',
        url: '/admin/v1/organizations',
        headers: { authorization: `Bearer ${adminToken}` },
        payload: { name: `Statement times ${Date.now()}` },
      });
      const { apiKey } = organization.json<{ apiKey: string }>();
      const body = intakeByTitle(`Statement times ${Date.now()}`);
      const send = (index: number) =>
        app.inject({
          method: 'POST',
          url: '/api/v1/dynamic-case',
          headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
          payload: body.split(UNIQUE).join(`st${index}`),
        });
      const first = await send(-1); // creates the form: not counted
      if (first.statusCode !== 200) throw new Error(`intake answered ${first.statusCode}: ${first.body}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      times.clear();
      const started = performance.now();
      for (let index = 0; index < count; index += 1) {
        const response = await send(index);
        if (response.statusCode !== 200) throw new Error(`intake answered ${response.statusCode}: ${response.body}`);
      }
      const elapsed = performance.now() - started;
      console.log(
        `${db.engine}: ${count} intakes one after another, ${(count / (elapsed / 1000)).toFixed(0)}/s, ` +
          `${(elapsed / count).toFixed(3)} ms each`,
      );
      let total = 0;
      for (const [statement, samples] of times) {
        const sum = samples.reduce((a, b) => a + b, 0);
        total += sum;
        console.log(
          `  ${statement.padEnd(48)}  ${String(samples.length).padStart(6)}x  mean ${(sum / samples.length).toFixed(3)} ms` +
            `  median ${median(samples).toFixed(3)} ms  per intake ${(sum / count).toFixed(3)} ms`,
        );
      }
      console.log(`  database time per intake: ${(total / count).toFixed(3)} ms`);
    } finally {
      await app.close();
    }
  } finally {
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
