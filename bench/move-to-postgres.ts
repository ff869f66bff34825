/**
 * The downtime of `npm run cli -- move-to-postgres` on a real embedded database, and the time and size of a
 * backup of it (docs/operations.md):
 *
 *   npm run build && node --import tsx bench/move-to-postgres.ts [--cases=100000] [--pg-url=postgres://...]
 *
 * 1. a server on PGlite in a fresh DATA_DIR takes N intakes through HTTP (the six questions of the intake
 *    benchmark, one of them PHI; one case in 1,000 with a 50 KB file), 16 at a time;
 * 2. `npm run cli -- backup` through the running server (the snapshot pauses its statements);
 * 3. the server stops, and `npm run cli -- move-to-postgres` copies it into a new database on the PostgreSQL
 *    server at --pg-url (an admin connection; the database is created and dropped).
 * Prints each step's time and the sizes, and a `RESULT {...}` line.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { fileQuestion, intakeByTitle, UNIQUE } from './lib/bodies.ts';
import { createBenchDatabase } from './lib/postgres.ts';
import { printResult, startListeningProcess } from './lib/processes.ts';
import { launcher } from '../scripts/build.ts';

const { values } = parseArgs({
  options: { cases: { type: 'string', default: '100000' }, 'pg-url': { type: 'string' } },
  strict: true,
});
const cases = Number(values.cases);
const adminUrl = values['pg-url'] ?? process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CONCURRENCY = 16;

async function directorySize(directory: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(directory, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const work = await mkdtemp(path.join(tmpdir(), 'care360-move-bench-'));
const dataDir = path.join(work, 'data');
const environment = {
  DATA_DIR: dataDir,
  ADMIN_TOKEN: randomBytes(16).toString('hex'),
  BOOTSTRAP_API_KEY: `c360_bench_${randomBytes(16).toString('hex')}`,
  PHI_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
  RATE_LIMIT_PER_KEY: '0',
  RATE_LIMIT_PER_ADDRESS: '0',
  LOG_LEVEL: 'warn',
};
const cli = (args: string[], env: Record<string, string>) =>
  promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    env: { PATH: process.env.PATH ?? '', ...environment, ...env },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 3_600_000,
  });

const database = await createBenchDatabase(adminUrl, `care360_move_bench_${Date.now()}_${process.pid}`);
const server = await startListeningProcess(launcher, environment);
try {
  // 1. The intakes.
  const plain = intakeByTitle('Move benchmark form');
  const withFile = intakeByTitle('Move benchmark form', [fileQuestion(50_000)]);
  let next = 0;
  const intakeStarted = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let index = next++; index < cases; index = next++) {
        const body = (index % 1000 === 999 ? withFile : plain).replaceAll(
          UNIQUE,
          `${index}-${randomBytes(4).toString('hex')}`,
        );
        const response = await fetch(`${server.url}/api/v1/dynamic-case`, {
          method: 'POST',
          headers: { 'cv-api-key': environment.BOOTSTRAP_API_KEY, 'content-type': 'application/json' },
          body,
        });
        if (response.status !== 200) throw new Error(`intake ${index}: ${response.status} ${await response.text()}`);
        await response.arrayBuffer();
        if (index % 10_000 === 9_999) console.log(`  ${index + 1} intakes`);
      }
    }),
  );
  const intakeSeconds = (performance.now() - intakeStarted) / 1000;
  console.log(`${cases} intakes in ${intakeSeconds.toFixed(0)} s (${(cases / intakeSeconds).toFixed(0)}/s)`);

  // 2. A backup through the running server.
  const backupFile = path.join(work, 'backup.tar.gz');
  // The pause it causes: the longest a GET /ready (one statement) waited while the backup was taken.
  let backingUp = true;
  let longestWaitMs = 0;
  const probing = (async () => {
    while (backingUp) {
      const sent = performance.now();
      await (await fetch(`${server.url}/ready`)).arrayBuffer();
      longestWaitMs = Math.max(longestWaitMs, performance.now() - sent);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const backupStarted = performance.now();
  await cli(['backup', backupFile], { PORT: new URL(server.url).port });
  const backupSeconds = (performance.now() - backupStarted) / 1000;
  backingUp = false;
  await probing;
  const backupBytes = (await stat(backupFile)).size;
  console.log(
    `backup through the server: ${backupSeconds.toFixed(1)} s, ${mb(backupBytes)}; ` +
      `the longest a request waited meanwhile: ${(longestWaitMs / 1000).toFixed(1)} s`,
  );

  // 3. The move, the server stopped.
  const port = new URL(server.url).port;
  await server.stop();
  const dataBytes = await directorySize(path.join(dataDir, 'pglite'));
  const moveStarted = performance.now();
  const moved = await cli(['move-to-postgres', database.url], { PORT: port });
  const moveSeconds = (performance.now() - moveStarted) / 1000;
  const report = JSON.parse(moved.stdout) as { tables: { table: string; rows: number }[]; seconds: number };
  const rows = Object.fromEntries(report.tables.map((table) => [table.table, table.rows]));
  console.log(moved.stderr.trim());
  console.log(
    `move-to-postgres: ${moveSeconds.toFixed(1)} s wall clock (the command's own ${report.seconds} s), ` +
      `embedded data ${mb(dataBytes)}, ${rows.cases} cases, ${rows.answers} answers, ${rows.file_contents} files`,
  );
  printResult({
    cases,
    intakesPerSecond: Math.round(cases / intakeSeconds),
    backupSeconds: Math.round(backupSeconds * 10) / 10,
    backupBytes,
    backupLongestWaitSeconds: Math.round(longestWaitMs / 100) / 10,
    embeddedBytes: dataBytes,
    moveSeconds: Math.round(moveSeconds * 10) / 10,
    rows,
    node: process.version,
  });
} finally {
  await server.stop();
  await database.drop();
  await rm(work, { recursive: true, force: true });
}
