/**
 * `npm run bench:ab`: two (or more) variants of the server side by side, each on a database of its own
 * (PostgreSQL, or PGlite in a data folder of its own), loaded in turn (ABBA order) with one scenario at the
 * benchmark's concurrency. This host's speed drifts by the minute, so a change is judged by the medians of
 * alternated runs, never by two full runs.
 *
 *   cp dist/server.mjs dist/ab-before.mjs      # the bundle before the change (npm run build makes dist/server.mjs)
 *   ... change the code, npm run build ...
 *   npm run bench:ab -- --variants='[{"name":"before","script":"dist/ab-before.mjs"},{"name":"after"}]'
 *
 * A variant is `{ name, script?, flags?, env?, sql?, node?, engine? }`: the bundle the launcher starts (default
 * `dist/server.mjs`, with the memory settings of bin/care360.mjs), node flags, server environment, SQL run on its database once the server has migrated it
 * (a schema change to try), the node binary that runs the server (another Node.js version; default the one
 * running this script), and the engine (`postgres`, the default, or `pglite`). Options: --rounds=N (4),
 * --duration=S (8), --warmup=S (1), --connections=N (16), --scenario=intake-title (any id of
 * bench/scenarios.ts, or case-list: a page of 20 real cases), --rate=R (a fixed request rate instead of as fast as the connections go: the server's
 * CPU per request at a load it carries), --pg-url=postgres://... (an admin connection). Each run prints the
 * server's CPU time per request (user + system, from /proc) beside the rate.
 *
 * --scenario=intake-webhook: intake by form title with one webhook endpoint (every event) at a receiver in this
 * process that answers 200 at once (bench/lib/webhook-receiver.ts), as `npm run bench` measures it. After each
 * run the bench waits until no delivery has arrived for 2 s, and prints the deliveries per second during the
 * run and the lag from each case's createdAt to its receipt (p50, p99); give --rate (half the intake's
 * throughput without an endpoint is the target) to measure lag at a load the intake carries.
 *
 * --ceiling (intake-title, case-detail): each round also replays the scenario's database ceiling
 * (bench/ceilings/database.ts, the working tree's SQL) on the first variant's database, in the alternation
 * like a variant, and prints each variant's share of the ceiling of the same round and its median. A full
 * `npm run bench` measures the ceiling once, minutes after the server; on a host whose speed drifts by the
 * minute the share then swings with the drift.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { DatabaseCeilingOptions, DatabaseCeilingResult } from './ceilings/database.ts';
import type { LoadResult, LoadSpec } from './load.ts';
import { launcher } from '../scripts/build.ts';
import { bootstrapOrganizationId, measureLoad } from './lib/measure.ts';
import { createBenchDatabase, withClient } from './lib/postgres.ts';
import { benchServerEnvironment, runJsonChild, startListeningProcess, type RunningProcess } from './lib/processes.ts';
import { median } from './lib/stats.ts';
import { caseListPage, intakeRequest, scenarios, type RequestSpec } from './scenarios.ts';
import { call, expectOk } from './lib/api.ts';
import { lagOf, startWebhookReceiver, waitForQuiet } from './lib/webhook-receiver.ts';

interface Variant {
  name: string;
  script?: string;
  flags?: string[];
  env?: Record<string, string>;
  sql?: string;
  /** The node binary that runs the server (default: the one running this script). */
  node?: string;
  /** The engine (default postgres): pglite runs the embedded engine in a data folder of its own. */
  engine?: 'postgres' | 'pglite';
}

const { values: args } = parseArgs({
  options: {
    variants: { type: 'string' },
    rounds: { type: 'string', default: '4' },
    duration: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '16' },
    scenario: { type: 'string', default: 'intake-title' },
    rate: { type: 'string' },
    ceiling: { type: 'boolean', default: false },
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
const rate = args.rate ? Number(args.rate) : undefined;
const webhooks = args.scenario === 'intake-webhook';
const scenario = webhooks
  ? scenarios.find((candidate) => candidate.id === 'intake-title')
  : [...scenarios, caseListPage].find((candidate) => candidate.id === args.scenario);
if (!scenario) throw new Error(`unknown scenario ${args.scenario}`);
/** The database ceiling each round replays (--ceiling): the workload of bench/ceilings/database.ts. */
const CEILING_WORKLOADS: Record<string, DatabaseCeilingOptions['workload']> = {
  'intake-title': 'intake',
  'case-detail': 'case-detail',
};
const ceilingWorkload = args.ceiling ? CEILING_WORKLOADS[args.scenario] : undefined;
if (args.ceiling && (!ceilingWorkload || rate !== undefined || variants[0]?.engine === 'pglite')) {
  throw new Error(`--ceiling: ${Object.keys(CEILING_WORKLOADS).join(' or ')}, PostgreSQL, no --rate`);
}
const adminUrl = args['pg-url'] ?? process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const adminToken = randomBytes(16).toString('hex');
const apiKey = `c360_bench_${randomBytes(16).toString('hex')}`;
const phiKey = randomBytes(32).toString('hex');

interface Running {
  variant: Variant;
  server: RunningProcess;
  request: RequestSpec;
  /** PostgreSQL: the variant's database. */
  databaseUrl?: string;
  /** intake-webhook: the variant's own receiver. */
  receiver?: Awaited<ReturnType<typeof startWebhookReceiver>>;
  runs: (LoadResult & { peakRssMb: number; serverCpuMsPerRequest: number; webhooks?: WebhookRun })[];
}

interface WebhookRun {
  deliveriesPerSecond: number;
  lagP50: number;
  lagP99: number;
}

const cleanups: (() => Promise<unknown>)[] = [];
const running: Running[] = [];
const work = await mkdtemp(path.join(tmpdir(), 'care360-ab-'));
cleanups.push(() => rm(work, { recursive: true, force: true }));

async function start(variant: Variant, index: number): Promise<Running> {
  const embedded = variant.engine === 'pglite';
  if (embedded && variant.sql) throw new Error(`${variant.name}: sql is for PostgreSQL variants`);
  const database = embedded
    ? undefined
    : await createBenchDatabase(adminUrl, `care360_ab_${index}_${Date.now()}_${process.pid}`);
  if (database) cleanups.push(() => database.drop());
  const dataDir = await mkdtemp(path.join(work, 'data-'));
  const server = await startListeningProcess(
    launcher,
    {
      ...benchServerEnvironment,
      ADMIN_TOKEN: adminToken,
      BOOTSTRAP_API_KEY: apiKey,
      PHI_ENCRYPTION_KEY: phiKey,
      DATA_DIR: dataDir,
      ...(database ? { DATABASE_URL: database.url } : {}),
      ...(webhooks ? { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' } : {}),
      ...variant.env,
    },
    {
      args: [variant.script ?? 'dist/server.mjs'],
      nodeArguments: variant.flags ?? [],
      ...(variant.node ? { node: variant.node } : {}),
    },
  );
  cleanups.push(() => server.stop());
  if (variant.sql && database) await withClient(database.url, (client) => client.query(variant.sql!));
  const organizationId = await bootstrapOrganizationId(server.url, adminToken);
  const context = { url: server.url, apiKey, adminToken, organizationId };
  const databaseUrl = database?.url;
  if (!webhooks) return { variant, server, databaseUrl, request: await scenario!.setup(context), runs: [] };
  const receiver = await startWebhookReceiver();
  cleanups.push(() => receiver.close());
  const created = await call(server.url, 'POST', `/admin/v1/organizations/${organizationId}/webhooks`, {
    headers: { authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ url: receiver.url }),
  });
  expectOk(created, 'POST /admin/v1/organizations/:organizationId/webhooks');
  const request = await intakeRequest(context, 'Bench intake with a webhook');
  return { variant, server, databaseUrl, request, receiver, runs: [] };
}

/** One run of the scenario's database ceiling on `databaseUrl` (the --ceiling rounds). */
async function ceilingRun(databaseUrl: string): Promise<Extract<DatabaseCeilingResult, { available: true }>> {
  const options: DatabaseCeilingOptions = {
    engine: 'postgres',
    url: databaseUrl,
    workload: ceilingWorkload,
    connections,
    durationSeconds,
    warmupSeconds,
    phiKey,
  };
  const result = await runJsonChild<DatabaseCeilingResult>('bench/ceilings/database.ts', [JSON.stringify(options)], {
    timeoutMs: (warmupSeconds + durationSeconds) * 1000 + 120_000,
  });
  if (!result.available) throw new Error(`database ceiling not available: ${result.reason}`);
  if (result.errors > 0) throw new Error(`database ceiling: ${result.errors} errors, first: ${result.firstError}`);
  return result;
}

async function load(target: Running, seconds: number, warmup: number): Promise<Running['runs'][number]> {
  const spec: LoadSpec = {
    url: target.server.url,
    ...target.request,
    connections,
    durationSeconds: seconds,
    warmupSeconds: warmup,
    ...(rate ? { overallRate: rate } : {}),
  };
  const receipts = target.receiver?.receipts;
  if (receipts) await waitForQuiet(receipts, 2000, 120_000);
  if (receipts) receipts.length = 0;
  const { peakRssMb, cpuPercent, ...result } = await measureLoad(target.server.pid, spec);
  const loadEnded = performance.timeOrigin + performance.now();
  // CPU over the warm-up and the run, per request of the run: the warm-up runs at the same rate.
  const serverCpuMsPerRequest = ((cpuPercent ?? Number.NaN) * 10) / result.requestsPerSecond;
  if (!receipts) return { ...result, peakRssMb, serverCpuMsPerRequest };
  // Every delivery of the run (and its warm-up) counts for the lag; those received during the run, for the rate.
  await waitForQuiet(receipts, 2000, 120_000);
  const during = receipts.filter(
    (receipt) => receipt.receivedAt >= loadEnded - seconds * 1000 && receipt.receivedAt <= loadEnded,
  ).length;
  const lag = lagOf(receipts);
  const webhookRun = { deliveriesPerSecond: during / seconds, lagP50: lag.p50, lagP99: lag.p99 };
  return { ...result, peakRssMb, serverCpuMsPerRequest, webhooks: webhookRun };
}

const formatWebhooks = (run: WebhookRun | undefined) =>
  run
    ? `  webhooks ${run.deliveriesPerSecond.toFixed(0)}/s lag p50 ${run.lagP50.toFixed(0)} ms p99 ${run.lagP99.toFixed(0)} ms`
    : '';

const format = (
  name: string,
  run: { rate: number; p50: number; p99: number; p999: number; rss: number; cpu: number },
) =>
  `${name.padEnd(16)} ${run.rate.toFixed(0).padStart(6)} ok/s  p50 ${run.p50} ms  p99 ${run.p99} ms  ` +
  `p99.9 ${run.p999} ms  peak RSS ${run.rss.toFixed(1)} MB  server CPU ${run.cpu.toFixed(3)} ms/request`;

try {
  for (const [index, variant] of variants.entries()) running.push(await start(variant, index));
  for (const target of running) await load(target, 3, 0); // warm every variant before the first measurement
  const ceilingUrl = ceilingWorkload ? running[0]!.databaseUrl : undefined;
  const ceilingRuns: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const slots: (Running | 'ceiling')[] = [...running, ...(ceilingUrl ? ['ceiling' as const] : [])];
    for (const target of round % 2 === 0 ? slots : slots.reverse()) {
      if (target === 'ceiling') {
        const ceiling = await ceilingRun(ceilingUrl!);
        ceilingRuns.push(ceiling.requestsPerSecond);
        const { p50, p99, p99_9 } = ceiling.latencyMs;
        console.log(
          `${'ceiling'.padEnd(16)} ${ceiling.requestsPerSecond.toFixed(0).padStart(6)} ok/s  p50 ${p50} ms  ` +
            `p99 ${p99} ms  p99.9 ${p99_9} ms  replay client CPU ${ceiling.clientCpuPercent}%`,
        );
        continue;
      }
      const run = await load(target, durationSeconds, warmupSeconds);
      target.runs.push(run);
      const { p50, p99, p99_9 } = run.latencyMs;
      const cpu = run.serverCpuMsPerRequest;
      console.log(
        format(target.variant.name, { rate: run.okPerSecond, p50, p99, p999: p99_9, rss: run.peakRssMb, cpu }) +
          formatWebhooks(run.webhooks),
      );
    }
  }
  const offered = rate ? `${rate} requests/s over ${connections} connections` : `${connections} connections`;
  console.log(`medians of ${rounds} runs each (${args.scenario}, ${offered}, ${durationSeconds} s):`);
  for (const { variant, runs } of running) {
    const of = (pick: (run: (typeof runs)[number]) => number) => median(runs.map(pick));
    console.log(
      format(variant.name, {
        rate: of((run) => run.okPerSecond),
        p50: of((run) => run.latencyMs.p50),
        p99: of((run) => run.latencyMs.p99),
        p999: of((run) => run.latencyMs.p99_9),
        rss: of((run) => run.peakRssMb),
        cpu: of((run) => run.serverCpuMsPerRequest),
      }) +
        formatWebhooks(
          webhooks
            ? {
                deliveriesPerSecond: of((run) => run.webhooks!.deliveriesPerSecond),
                lagP50: of((run) => run.webhooks!.lagP50),
                lagP99: of((run) => run.webhooks!.lagP99),
              }
            : undefined,
        ),
    );
  }
  if (ceilingRuns.length > 0) {
    console.log(`${'ceiling'.padEnd(16)} ${median(ceilingRuns).toFixed(0).padStart(6)} ok/s`);
    for (const { variant, runs } of running) {
      const shares = runs.map((run, round) => run.okPerSecond / ceilingRuns[round]!);
      const listed = shares.map((share) => `${(share * 100).toFixed(0)}%`).join(', ');
      console.log(
        `${variant.name}: share of the same round's ceiling ${listed}; median ${(median(shares) * 100).toFixed(0)}%`,
      );
    }
  }
} finally {
  while (cleanups.length > 0) await cleanups.pop()!().catch((error: unknown) => console.error('cleanup:', error));
}
