/**
 * `npm run bench:ab`: two (or more) variants of the server side by side on PostgreSQL, each on a database of
 * its own, loaded in turn (ABBA order) with one scenario at the benchmark's concurrency. This host's speed
 * drifts by the minute, so a change is judged by the medians of alternated runs, never by two full runs.
 *
 *   cp dist/server.mjs dist/ab-before.mjs      # the bundle before the change (npm run build makes dist/server.mjs)
 *   ... change the code, npm run build ...
 *   npm run bench:ab -- --variants='[{"name":"before","script":"dist/ab-before.mjs"},{"name":"after"}]'
 *
 * A variant is `{ name, script?, flags?, env?, sql? }`: the bundle to start (default `dist/server.mjs`), node
 * flags, server environment, and SQL run on its database once the server has migrated it (a schema change to
 * try). Options: --rounds=N (4), --duration=S (8), --warmup=S (1), --connections=N (16),
 * --scenario=intake-title (any id of bench/scenarios.ts), --pg-url=postgres://... (an admin connection).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadResult, LoadSpec } from './load.ts';
import { call, expectOk } from './lib/api.ts';
import { createBenchDatabase, withClient } from './lib/postgres.ts';
import { runJsonChild, startListeningProcess, watchProcess, type RunningProcess } from './lib/processes.ts';
import { median } from './lib/stats.ts';
import { scenarios, type RequestSpec } from './scenarios.ts';

interface Variant {
  name: string;
  script?: string;
  flags?: string[];
  env?: Record<string, string>;
  sql?: string;
}

const { values: args } = parseArgs({
  options: {
    variants: { type: 'string' },
    rounds: { type: 'string', default: '4' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '16' },
    scenario: { type: 'string', default: 'intake-title' },
    'pg-url': { type: 'string' },
  },
  strict: true,
});

const variants = JSON.parse(args.variants ?? '[]') as Variant[];
if (!Array.isArray(variants) || variants.length < 2 || variants.some((variant) => !variant.name)) {
  throw new Error('--variants: a JSON array of at least two { "name": ... } objects');
}
const rounds = Number(args.rounds);
const durationSeconds = Number(args.duration);
const warmupSeconds = Number(args.warmup);
const connections = Number(args.connections);
const scenario = scenarios.find((candidate) => candidate.id === args.scenario);
if (!scenario) throw new Error(`unknown scenario ${args.scenario}`);
const adminUrl = args['pg-url'] ?? process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const adminToken = randomBytes(16).toString('hex');
const apiKey = `c360_bench_${randomBytes(16).toString('hex')}`;
const phiKey = randomBytes(32).toString('hex');

interface Running {
  variant: Variant;
  server: RunningProcess;
  request: RequestSpec;
  runs: (LoadResult & { peakRssMb: number })[];
}

const cleanups: (() => Promise<unknown>)[] = [];
const running: Running[] = [];
const work = await mkdtemp(path.join(tmpdir(), 'care360-ab-'));
cleanups.push(() => rm(work, { recursive: true, force: true }));

async function start(variant: Variant, index: number): Promise<Running> {
  const database = await createBenchDatabase(adminUrl, `care360_ab_${index}_${Date.now()}_${process.pid}`);
  cleanups.push(() => database.drop());
  const dataDir = await mkdtemp(path.join(work, 'data-'));
  const server = await startListeningProcess(
    variant.script ?? 'dist/server.mjs',
    {
      LOG_LEVEL: 'warn',
      DATABASE_POOL_SIZE: String(connections),
      RATE_LIMIT_PER_KEY: '1000000000',
      RATE_LIMIT_PER_ADDRESS: '1000000000',
      AUTH_FAILURE_LIMIT: '1000000',
      ADMIN_TOKEN: adminToken,
      BOOTSTRAP_API_KEY: apiKey,
      PHI_ENCRYPTION_KEY: phiKey,
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      ...variant.env,
    },
    { nodeArguments: variant.flags ?? [] },
  );
  cleanups.push(() => server.stop());
  if (variant.sql) await withClient(database.url, (client) => client.query(variant.sql!));
  const organizations = await call(server.url, 'GET', '/admin/v1/organizations', {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  expectOk(organizations, 'GET /admin/v1/organizations');
  const organizationId = (organizations.body as { organizations: { id: string }[] }).organizations[0]!.id;
  const request = await scenario!.setup({ url: server.url, apiKey, adminToken, organizationId });
  return { variant, server, request, runs: [] };
}

async function load(target: Running, seconds: number, warmup: number) {
  const spec: LoadSpec = {
    url: target.server.url,
    ...target.request,
    connections,
    durationSeconds: seconds,
    warmupSeconds: warmup,
  };
  const specPath = path.join(work, `spec-${Date.now()}.json`);
  await writeFile(specPath, JSON.stringify(spec));
  const watch = watchProcess(target.server.pid);
  const result = await runJsonChild<LoadResult>('bench/load.ts', [specPath], {
    timeoutMs: (seconds + warmup) * 1000 + 90_000,
  });
  return { ...result, peakRssMb: watch.stop().peakRssMb };
}

const format = (name: string, rate: number, p50: number, p99: number, p999: number, rss: number) =>
  `${name.padEnd(16)} ${rate.toFixed(0).padStart(6)} ok/s  p50 ${p50} ms  p99 ${p99} ms  p99.9 ${p999} ms  peak RSS ${rss} MB`;

try {
  for (const [index, variant] of variants.entries()) running.push(await start(variant, index));
  for (const target of running) await load(target, 3, 0); // warm every variant before the first measurement
  for (let round = 0; round < rounds; round++) {
    for (const target of round % 2 === 0 ? running : [...running].reverse()) {
      const run = await load(target, durationSeconds, warmupSeconds);
      target.runs.push(run);
      const { p50, p99, p99_9 } = run.latencyMs;
      console.log(format(target.variant.name, run.okPerSecond, p50, p99, p99_9, run.peakRssMb));
    }
  }
  console.log(`medians of ${rounds} runs each (${args.scenario}, ${connections} connections, ${durationSeconds} s):`);
  for (const { variant, runs } of running) {
    const of = (pick: (run: (typeof runs)[number]) => number) => median(runs.map(pick));
    console.log(
      format(
        variant.name,
        of((run) => run.okPerSecond),
        of((run) => run.latencyMs.p50),
        of((run) => run.latencyMs.p99),
        of((run) => run.latencyMs.p99_9),
        of((run) => run.peakRssMb),
      ),
    );
  }
} finally {
  while (cleanups.length > 0) await cleanups.pop()!().catch((error: unknown) => console.error('cleanup:', error));
}
