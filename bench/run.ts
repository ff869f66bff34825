/**
 * `npm run bench`: care360 under load, on PGlite and on PostgreSQL, beside the framework and database
 * ceilings measured in the same run. See docs/performance.md for what it measures and the latest figures.
 *
 *   npm run bench                      full run (about 8 minutes), writes bench/results/ (bench/lib/results.ts) and the docs
 *   npm run bench -- --quick           smoke pass, a few seconds per scenario (CI); writes bench/results/tmp/ only
 *   npm run bench -- --growth          form-title intake at 0 and at 1,000,000 existing cases (PostgreSQL)
 *
 * Each scenario runs twice: at a fixed concurrency (--connections, 16), then at a fixed request rate
 * (autocannon overallRate): --rate-fraction (0.5) of the throughput just measured, or --rate=R for all.
 *
 * Options: --duration=S --warmup=S --connections=N --rate=R --rate-fraction=F
 * --engines=pglite,postgres --scenarios=intake-title,... --cases=N (growth) --pg-url=postgres://...
 * (an admin connection; the run creates and drops a database of its own) --profile (server --cpu-prof into
 * bench/results/tmp) --skip-report.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus, freemem, loadavg, release, tmpdir, totalmem } from 'node:os';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { DatabaseCeilingOptions, DatabaseCeilingResult } from './ceilings/database.ts';
import type { LoadSpec } from './load.ts';
import {
  saveResults,
  type BenchResults,
  type Engine,
  type EngineResult,
  type GrowthResult,
  type Measurement,
  type ScenarioResult,
  type WebhookFigures,
} from './lib/results.ts';
import { call, expectOk, NotAvailable } from './lib/api.ts';
import { bootstrapOrganizationId, measureLoad } from './lib/measure.ts';
import { intakeByTitle, intakeWithTwoPhi, STAFF_LOOP_DECISION, STAFF_LOOP_NEXT_PAGE } from './lib/bodies.ts';
import { createBenchDatabase, postgresVersion, withClient } from './lib/postgres.ts';
import { seedCaseClones } from './lib/seed-series.ts';
import { lagOf, startWebhookReceiver, waitForQuiet } from './lib/webhook-receiver.ts';
import {
  benchServerEnvironment,
  readMemory,
  runJsonChild,
  startListeningProcess,
  type RunningProcess,
} from './lib/processes.ts';
import { buildServer, launcher } from '../scripts/build.ts';
import { projectRoot } from '../src/paths.ts';
import { fasterRun, summarizeLatencies } from './lib/stats.ts';
import { writeReport } from './report.ts';
import {
  apiHeaders,
  createCase,
  intakeRequest,
  scenarios,
  type RequestSpec,
  type Scenario,
  type SetupContext,
} from './scenarios.ts';
import type { SeedResult } from './seed-cases.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    growth: { type: 'boolean', default: false },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    rate: { type: 'string' },
    'rate-fraction': { type: 'string' },
    engines: { type: 'string' },
    scenarios: { type: 'string' },
    cases: { type: 'string' },
    'list-cases': { type: 'string' },
    'pg-url': { type: 'string' },
    'pool-size': { type: 'string' },
    profile: { type: 'boolean', default: false },
    'skip-report': { type: 'boolean', default: false },
  },
  strict: true,
});

const quick = args.quick;
const durationSeconds = Number(args.duration ?? (quick ? 2 : 10));
const warmupSeconds = Number(args.warmup ?? (quick ? 1 : 3));
const connections = Number(args.connections ?? 16);
/**
 * The server's PostgreSQL pool: the server's own default (DATABASE_POOL_SIZE, 10) unless --pool-size is
 * given, as a user runs it. One connection per concurrent request (16) was the bench's choice until
 * 2026-12-02 22:30: alternated single-scenario runs then gave 2,143 and 2,043 intakes/s (p99 21 and 20 ms)
 * with 10 against 1,698 and 1,782/s (p99 26 and 25 ms) with 16, the two cores running fewer backends beside
 * the server. Twice the cores (4) was slower again (837 against 955/s with 16, earlier that day). The
 * database ceiling's replay keeps one connection per worker whatever the server's pool: it measured faster
 * that way (median 2,896 against 2,492 intakes/s with 10), so the ceiling is not lowered to the app's
 * setting.
 */
const poolSize = args['pool-size'] === undefined ? undefined : Number(args['pool-size']);
const rateOverride = args.rate ? Number(args.rate) : undefined;
const rateFraction = Number(args['rate-fraction'] ?? 0.5);
const engines = (args.engines ?? 'pglite,postgres').split(',').filter(Boolean) as Engine[];
const scenarioFilter = args.scenarios?.split(',').filter(Boolean);
const growthCases = Number(args.cases ?? (quick ? 10_000 : 1_000_000));
/** Cases seeded (generate_series) under the case list's second measurement. */
const listCases = Number(args['list-cases'] ?? (quick ? 10_000 : 1_000_000));
/** OPEN cases seeded for the staff decide-and-next loop: more than the loop and its ceiling take. */
const loopCases = quick ? 5_000 : 40_000;
const adminUrl = args['pg-url'] ?? process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
for (const [name, value] of Object.entries({
  durationSeconds,
  warmupSeconds,
  connections,
  ...(poolSize === undefined ? {} : { poolSize }),
  growthCases,
  listCases,
})) {
  if (!Number.isFinite(value) || value < 0) throw new Error(`invalid --${name}`);
}
for (const engine of engines)
  if (engine !== 'pglite' && engine !== 'postgres') throw new Error(`unknown engine ${engine}`);

const adminToken = randomBytes(16).toString('hex');
const apiKey = `c360_bench_${randomBytes(16).toString('hex')}`;
/** One PHI key for every process on a database (servers refuse a key other than the database's). */
const phiKey = randomBytes(32).toString('hex');
const serverEnvironment = {
  ...benchServerEnvironment,
  ...(poolSize === undefined ? {} : { DATABASE_POOL_SIZE: String(poolSize) }),
  // The webhook scenario's receiver listens on 127.0.0.1.
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
};
const profileDirectory = path.join(projectRoot, 'bench', 'results', 'tmp', 'profiles');

const cleanups: (() => Promise<unknown>)[] = [];
async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()!().catch((error: unknown) => console.error('cleanup:', error));
}
process.once('SIGINT', () => void cleanUp().then(() => process.exit(130)));
process.once('SIGTERM', () => void cleanUp().then(() => process.exit(143)));

const log = (message: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

async function runLoad(server: RunningProcess, request: RequestSpec, mode: 'concurrency' | 'rate', rate?: number) {
  const spec: LoadSpec = {
    url: server.url,
    ...request,
    connections,
    durationSeconds,
    warmupSeconds: mode === 'concurrency' ? warmupSeconds : 0,
    ...(mode === 'rate' ? { overallRate: rate } : {}),
  };
  const { cpuPercent, ...result } = await measureLoad(server.pid, spec);
  const measurement: Measurement = {
    ...result,
    mode,
    connections,
    ...(rate ? { targetRate: rate } : {}),
    ...(cpuPercent !== undefined ? { serverCpuPercent: cpuPercent } : {}),
  };
  return measurement;
}

/** `rateFraction` of a measured throughput, to two significant digits, at least 1 request per second. */
function steadyRate(throughput: number): number {
  const target = Math.max(1, throughput * rateFraction);
  const magnitude = 10 ** Math.max(0, Math.floor(Math.log10(target)) - 1);
  return Math.max(1, Math.round(target / magnitude) * magnitude);
}

function describe(measurement: Measurement): string {
  const errors = measurement.non2xx + measurement.errors;
  return (
    `${measurement.requestsPerSecond.toFixed(0)} req/s, p50 ${measurement.latencyMs.p50} ms, ` +
    `p99 ${measurement.latencyMs.p99} ms, p99.9 ${measurement.latencyMs.p99_9} ms, ` +
    `${errors} errors/non-2xx, peak RSS ${measurement.peakRssMb} MB, server CPU ${measurement.serverCpuPercent ?? '?'}%`
  );
}

async function startCare360(engine: Engine, databaseUrl: string | undefined, dataDir: string): Promise<RunningProcess> {
  const environment: Record<string, string> = {
    ...serverEnvironment,
    ADMIN_TOKEN: adminToken,
    BOOTSTRAP_API_KEY: apiKey,
    PHI_ENCRYPTION_KEY: phiKey,
    DATA_DIR: dataDir,
    ...(engine === 'postgres' && databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  };
  // Flags given to the launcher reach the server too (the launcher's own profile is the smaller file).
  const nodeArguments = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDirectory}`] : [];
  if (args.profile) await mkdir(profileDirectory, { recursive: true });
  // As `npm start` runs it: the launcher, which starts the bundle scripts/build.ts makes with its engine's
  // memory settings.
  await buildServer();
  return startListeningProcess(launcher, environment, { nodeArguments });
}

async function setupContext(server: RunningProcess): Promise<SetupContext> {
  return { url: server.url, apiKey, adminToken, organizationId: await bootstrapOrganizationId(server.url, adminToken) };
}

async function measureScenario(
  server: RunningProcess,
  context: SetupContext,
  scenario: Scenario,
): Promise<ScenarioResult> {
  const base = { id: scenario.id, label: scenario.label };
  let request: RequestSpec;
  try {
    request = await scenario.setup(context);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log(`  ${scenario.id}: ${error instanceof NotAvailable ? 'not available' : 'set-up failed'}: ${reason}`);
    return { ...base, status: error instanceof NotAvailable ? 'not available' : 'failed', reason };
  }
  try {
    const concurrency = await runLoad(server, request, 'concurrency');
    log(`  ${scenario.id} @${connections} connections: ${describe(concurrency)}`);
    // Half the measured capacity unless --rate is given: latency under a steady load the server can carry.
    const rate = rateOverride ?? steadyRate(concurrency.okPerSecond);
    const fixedRate = await runLoad(server, request, 'rate', rate);
    log(`  ${scenario.id} @${rate}/s: ${describe(fixedRate)}`);
    return { ...base, status: 'ok', concurrency, rate: fixedRate };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log(`  ${scenario.id}: failed: ${reason}`);
    return { ...base, status: 'failed', reason };
  }
}

const selected = (id: string) => !scenarioFilter || scenarioFilter.includes(id);

/** A new organization (admin API) with its first key: scenarios that must not share the bootstrap one. */
async function createOrganization(context: SetupContext, name: string): Promise<{ id: string; apiKey: string }> {
  const response = await call(context.url, 'POST', '/admin/v1/organizations', {
    headers: { authorization: `Bearer ${context.adminToken}` },
    body: JSON.stringify({ name: `${name} ${Date.now()}` }),
  });
  expectOk(response, 'POST /admin/v1/organizations');
  const body = response.body as { organizationId: string; apiKey: string };
  return { id: body.organizationId, apiKey: body.apiKey };
}

/**
 * Intake by form title into an organization with one webhook endpoint (every event) at a local receiver
 * that answers 200 at once: the intake's throughput with the endpoint, the deliveries per second and the
 * backlog's drain after the fixed-concurrency run, and the lag from a case's creation to its delivery at the
 * fixed rate (half the intake's throughput without an endpoint, measured just before).
 */
async function measureIntakeWebhook(
  server: RunningProcess,
  context: SetupContext,
  withoutEndpoint: number | undefined,
): Promise<ScenarioResult> {
  const base = {
    id: 'intake-webhook',
    label: 'POST /api/v1/dynamic-case by form title, one webhook endpoint subscribed',
  };
  const receiver = await startWebhookReceiver();
  cleanups.push(() => receiver.close());
  const drainTimeoutMs = (quick ? 60 : 180) * 1000;
  try {
    const organization = await createOrganization(context, 'Bench webhooks');
    const created = await call(context.url, 'POST', `/admin/v1/organizations/${organization.id}/webhooks`, {
      headers: { authorization: `Bearer ${context.adminToken}` },
      body: JSON.stringify({ url: receiver.url }),
    });
    expectOk(created, 'POST /admin/v1/organizations/:organizationId/webhooks');
    const request = await intakeRequest({ ...context, apiKey: organization.apiKey }, 'Bench intake with a webhook');
    await waitForQuiet(receiver.receipts, 2000, 30_000);
    if (receiver.receipts.length === 0) throw new Error('the set-up intake was not delivered to the receiver');
    receiver.receipts.length = 0;

    const loadStarted = performance.timeOrigin + performance.now();
    const concurrency = await runLoad(server, request, 'concurrency');
    const loadEnded = performance.timeOrigin + performance.now();
    log(`  intake-webhook @${connections} connections: ${describe(concurrency)}`);
    await waitForQuiet(receiver.receipts, 2000, drainTimeoutMs);
    const duringLoad = receiver.receipts.filter(
      (receipt) => receipt.receivedAt >= loadEnded - durationSeconds * 1000 && receipt.receivedAt <= loadEnded,
    ).length;
    const times = receiver.receipts.map((receipt) => receipt.receivedAt);
    const lastReceipt = Math.max(loadStarted, ...times);
    const firstReceipt = Math.min(lastReceipt, ...times);
    const concurrencyReceipts = [...receiver.receipts];
    receiver.receipts.length = 0;

    const rate = rateOverride ?? steadyRate(withoutEndpoint ?? concurrency.okPerSecond);
    const fixedRate = await runLoad(server, request, 'rate', rate);
    await waitForQuiet(receiver.receipts, 2000, drainTimeoutMs);
    const webhooks: WebhookFigures = {
      deliveries: concurrencyReceipts.length,
      deliveriesPerSecond: duringLoad / durationSeconds,
      overallDeliveriesPerSecond:
        lastReceipt > firstReceipt ? concurrencyReceipts.length / ((lastReceipt - firstReceipt) / 1000) : 0,
      drainSeconds: Math.max(0, lastReceipt - loadEnded) / 1000,
      rateLagMs: lagOf(receiver.receipts),
      concurrencyLagMs: lagOf(concurrencyReceipts),
      ...(withoutEndpoint !== undefined ? { intakeWithoutEndpointPerSecond: withoutEndpoint } : {}),
    };
    log(`  intake-webhook @${rate}/s: ${describe(fixedRate)}`);
    log(
      `  webhooks: ${webhooks.deliveriesPerSecond.toFixed(0)} deliveries/s under the load ` +
        `(${webhooks.overallDeliveriesPerSecond.toFixed(0)}/s from the first to the last), backlog drained ` +
        `${webhooks.drainSeconds.toFixed(1)} s after it; lag at ${rate}/s p50 ${webhooks.rateLagMs?.p50} ms, ` +
        `p99 ${webhooks.rateLagMs?.p99} ms (${webhooks.rateLagMs?.count} deliveries)`,
    );
    return { ...base, status: 'ok', concurrency, rate: fixedRate, webhooks };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log(`  intake-webhook: ${error instanceof NotAvailable ? 'not available' : 'failed'}: ${reason}`);
    return { ...base, status: error instanceof NotAvailable ? 'not available' : 'failed', reason };
  } finally {
    await receiver.close();
  }
}

/**
 * GET /api/v1/cases, the first page of 20 of a 60-day range, in an organization of its own: first with 20
 * cases (a real intake's case and 19 copies of it), then with `listCases` more copies spread over the same
 * range (seeded by SQL, generate_series), each beside its database ceiling (the page's SQL replayed).
 */
async function measureCaseList(
  server: RunningProcess,
  context: SetupContext,
  databaseUrl: string,
): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  const label = (count: number) => `GET /api/v1/cases, first page of 20, ${count.toLocaleString('en-US')} cases`;
  try {
    const organization = await createOrganization(context, 'Bench case list');
    const listContext = { ...context, apiKey: organization.apiKey };
    const title = 'Bench case list';
    const templateCaseId = await createCase(listContext, title, {}, intakeWithTwoPhi(title));
    const now = Date.now();
    const day = 86_400_000;
    const range = { from: new Date(now - 58 * day), to: new Date(now - 3_600_000) };
    const path =
      `/api/v1/cases?startTime=${new Date(now - 59 * day).toISOString()}` +
      `&endTime=${new Date(now + day / 2).toISOString()}&recordsPerPage=20`;
    const request: RequestSpec = { method: 'GET', path, headers: apiHeaders(listContext) };
    let existing = 1;
    for (const count of [19, listCases]) {
      log(`  case-list: seeding ${count} cases (generate_series)`);
      const seconds = await withClient(databaseUrl, (client) =>
        seedCaseClones(client, { templateCaseId, count, ...range }),
      );
      existing += count;
      log(`  case-list: seeded in ${seconds.toFixed(1)} s`);
      const scenario: Scenario = {
        id: `case-list-${existing}`,
        label: label(existing),
        async setup() {
          const probe = await call(context.url, 'GET', path, { headers: request.headers });
          expectOk(probe, 'GET /api/v1/cases');
          const cases = (probe.body as { cases?: unknown[] }).cases;
          if (!Array.isArray(cases) || cases.length !== 20)
            throw new Error(`not a page of 20: ${probe.text.slice(0, 300)}`);
          return request;
        },
      };
      const result = await measureScenario(server, context, scenario);
      result.existingCases = existing;
      result.seed = {
        cases: count,
        seconds,
        method: 'SQL insert ... select from generate_series (bench/lib/seed-series.ts)',
      };
      if (result.status === 'ok') {
        result.databaseCeiling = await runDatabaseCeiling('postgres', databaseUrl, `of ${scenario.id}`, {
          workload: 'request',
          path,
          apiKey: organization.apiKey,
        });
      }
      results.push(result);
      if (result.status !== 'ok') break;
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log(`  case-list: ${error instanceof NotAvailable ? 'not available' : 'failed'}: ${reason}`);
    results.push({
      id: 'case-list',
      label: 'GET /api/v1/cases, first page of 20',
      status: error instanceof NotAvailable ? 'not available' : 'failed',
      reason,
    });
  }
  return results;
}

/** A staff member of one organization (admin API), signed in: their id and bearer headers. */
async function staffSession(
  context: SetupContext,
  role: 'SUPPORT' | 'PROVIDER',
  organizationId: string,
): Promise<{ staffId: string; headers: Record<string, string> }> {
  const email = `bench-${role.toLowerCase()}-${Date.now()}@clinic.example`;
  const password = randomBytes(12).toString('hex');
  const created = await call(context.url, 'POST', '/admin/v1/staff', {
    headers: { authorization: `Bearer ${context.adminToken}` },
    body: JSON.stringify({
      email,
      firstName: 'Bench',
      lastName: role,
      role,
      password,
      organizationIds: [organizationId],
      ...(role === 'PROVIDER' ? { title: 'MD', npi: '1234567890', licensedStates: ['DC'] } : {}),
    }),
  });
  expectOk(created, 'POST /admin/v1/staff');
  const login = await call(context.url, 'POST', '/staff/v1/auth/login', { body: JSON.stringify({ email, password }) });
  expectOk(login, 'POST /staff/v1/auth/login');
  return {
    staffId: (created.body as { staffId: string }).staffId,
    headers: { authorization: `Bearer ${(login.body as { accessToken: string }).accessToken}` },
  };
}

/**
 * GET /staff/v1/cases, the first page (25, oldest first, with the counts per status) as a SUPPORT member of one
 * organization sees it: with 0 cases, with 25 (a real intake's case and 24 copies), then with `listCases` more
 * copies (seeded by SQL, generate_series), each beside its database ceiling (the page's SQL replayed). The step
 * of 25 is the full page before the growth: an empty page writes no audit event and serializes no case, so only
 * 25 against `listCases` isolates what the organization's size costs.
 */
async function measureStaffQueue(
  server: RunningProcess,
  context: SetupContext,
  databaseUrl: string,
): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  const label = (count: number) =>
    `GET /staff/v1/cases, first page of 25 with counts, ${count.toLocaleString('en-US')} cases`;
  try {
    const organization = await createOrganization(context, 'Bench staff queue');
    const support = await staffSession(context, 'SUPPORT', organization.id);
    const path = '/staff/v1/cases';
    const request: RequestSpec = { method: 'GET', path, headers: support.headers };
    const now = Date.now();
    const day = 86_400_000;
    const range = { from: new Date(now - 58 * day), to: new Date(now - 3_600_000) };
    let existing = 0;
    let templateCaseId: string | undefined;
    for (const count of [0, 24, listCases]) {
      let seed: ScenarioResult['seed'];
      if (count > 0) {
        const title = 'Bench staff queue';
        templateCaseId ??= await createCase(
          { ...context, apiKey: organization.apiKey },
          title,
          {},
          intakeWithTwoPhi(title),
        );
        if (existing === 0) existing = 1;
        log(`  staff-queue: seeding ${count} cases (generate_series)`);
        const template = templateCaseId;
        const seconds = await withClient(databaseUrl, (client) =>
          seedCaseClones(client, { templateCaseId: template, count, ...range }),
        );
        existing += count;
        seed = {
          cases: count,
          seconds,
          method: 'SQL insert ... select from generate_series (bench/lib/seed-series.ts)',
        };
      }
      const expected = Math.min(25, existing);
      const scenario: Scenario = {
        id: `staff-queue-${existing}`,
        label: label(existing),
        async setup() {
          const probe = await call(context.url, 'GET', path, { headers: support.headers });
          expectOk(probe, 'GET /staff/v1/cases');
          const cases = (probe.body as { cases?: unknown[] }).cases;
          if (!Array.isArray(cases) || cases.length !== expected)
            throw new Error(`not a page of ${expected}: ${probe.text.slice(0, 300)}`);
          return request;
        },
      };
      const result = await measureScenario(server, context, scenario);
      if (seed) result.seed = seed;
      if (result.status === 'ok') {
        result.databaseCeiling = await runDatabaseCeiling('postgres', databaseUrl, `of ${scenario.id}`, {
          workload: 'request',
          path,
          apiKey: organization.apiKey,
          headers: support.headers,
        });
      }
      results.push(result);
      if (result.status !== 'ok') break;
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log(`  staff-queue: ${error instanceof NotAvailable ? 'not available' : 'failed'}: ${reason}`);
    results.push({ id: 'staff-queue', label: 'GET /staff/v1/cases, first page', status: 'failed', reason });
  }
  return results;
}

/**
 * A provider's decide-and-next loop, `connections` loops at once for `durationSeconds` (after `warmupSeconds`):
 * assign a case to themselves, start the review, approve it, then read the queue's first page (what to take next).
 * Each loop takes an OPEN case of its own (listed before the load, so loops never race for one). Beside it, the
 * database ceiling: the SQL of one loop, replayed on other OPEN cases.
 */
async function measureStaffLoop(context: SetupContext, databaseUrl: string): Promise<ScenarioResult> {
  const base = {
    id: 'staff-loop',
    label: 'Provider loop: assign, start-review, decide, then the queue (GET /staff/v1/cases), one loop',
  };
  try {
    const organization = await createOrganization(context, 'Bench staff loop');
    const provider = await staffSession(context, 'PROVIDER', organization.id);
    const title = 'Bench staff loop';
    const templateCaseId = await createCase(
      { ...context, apiKey: organization.apiKey },
      title,
      {},
      intakeWithTwoPhi(title),
    );
    const now = Date.now();
    const range = { from: new Date(now - 30 * 86_400_000), to: new Date(now - 3_600_000) };
    log(`  staff-loop: seeding ${loopCases} OPEN cases (generate_series)`);
    const seconds = await withClient(databaseUrl, (client) =>
      seedCaseClones(client, { templateCaseId, count: loopCases, ...range }),
    );
    const ids = await withClient(databaseUrl, async (client) => {
      const { rows } = await client.query<{ id: string }>(
        `select id::text as id from cases where organization_id = $1 and status = 'OPEN'
          order by created_at, id`,
        [organization.id],
      );
      return rows.map((row) => row.id);
    });
    let next = 0;
    const jsonHeaders = { ...provider.headers, 'content-type': 'application/json' };
    const step = async (method: 'GET' | 'POST', path: string, body?: object) => {
      const response = await fetch(`${context.url}${path}`, {
        method,
        headers: body ? jsonHeaders : provider.headers,
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      await response.arrayBuffer();
      return response.ok;
    };
    const loop = async () => {
      const caseId = ids[next++];
      if (!caseId) throw new Error('the seeded OPEN cases ran out');
      return (
        (await step('POST', `/staff/v1/cases/${caseId}/assign`, { assigneeId: provider.staffId })) &&
        (await step('POST', `/staff/v1/cases/${caseId}/start-review`, {})) &&
        (await step('POST', `/staff/v1/cases/${caseId}/decisions`, STAFF_LOOP_DECISION)) &&
        (await step('GET', STAFF_LOOP_NEXT_PAGE))
      );
    };
    const drive = async (seconds: number) => {
      const latencies: number[] = [];
      let failed = 0;
      const started = performance.now();
      const deadline = started + seconds * 1000;
      await Promise.all(
        Array.from({ length: connections }, async () => {
          while (performance.now() < deadline) {
            const begin = performance.now();
            if (await loop()) latencies.push(performance.now() - begin);
            else failed += 1;
          }
        }),
      );
      return { latencies, failed, elapsed: (performance.now() - started) / 1000 };
    };
    if (warmupSeconds > 0) await drive(warmupSeconds);
    const measured = await drive(durationSeconds);
    const loops = {
      connections,
      loopsPerSecond: measured.latencies.length / measured.elapsed,
      requestsPerLoop: 4,
      latencyMs: summarizeLatencies(measured.latencies),
      failed: measured.failed,
    };
    log(
      `  staff-loop @${connections} loops at once: ${loops.loopsPerSecond.toFixed(0)} loops/s, ` +
        `p50 ${loops.latencyMs.p50} ms, p99 ${loops.latencyMs.p99} ms, ${loops.failed} failed`,
    );
    const databaseCeiling = await runDatabaseCeiling('postgres', databaseUrl, 'of staff-loop', {
      workload: 'staff-loop',
      headers: provider.headers,
      organizationId: organization.id,
      staffId: provider.staffId,
    });
    return {
      ...base,
      status: 'ok',
      loops,
      databaseCeiling,
      seed: {
        cases: loopCases,
        seconds,
        method: 'SQL insert ... select from generate_series (bench/lib/seed-series.ts)',
      },
    };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log(`  staff-loop: failed: ${reason}`);
    return { ...base, status: 'failed', reason };
  }
}

async function prepareStorage(engine: Engine, label: string) {
  const dataDir = await mkdtemp(path.join(tmpdir(), `care360-bench-${engine}-`));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  let databaseUrl: string | undefined;
  if (engine === 'postgres') {
    const name = `care360_bench_${label}_${Date.now()}_${process.pid}`;
    const database = await createBenchDatabase(adminUrl, name);
    cleanups.push(() => database.drop());
    databaseUrl = database.url;
  }
  return { dataDir, databaseUrl };
}

async function runEngine(engine: Engine): Promise<EngineResult> {
  const { dataDir, databaseUrl } = await prepareStorage(engine, 'run');
  const ceilingBefore = await runDatabaseCeiling(engine, databaseUrl, 'before the scenarios');
  log(`${engine}: starting care360`);
  const server = await startCare360(engine, databaseUrl, dataDir);
  cleanups.push(() => server.stop());
  const results: ScenarioResult[] = [];
  let serverLifetimePeakRssMb: number | undefined;
  try {
    const context = await setupContext(server);
    for (const scenario of scenarios) {
      if (selected(scenario.id)) {
        const result = await measureScenario(server, context, scenario);
        if (scenario.ceiling && result.status === 'ok') {
          result.databaseCeiling = await runDatabaseCeiling(engine, databaseUrl, `of ${scenario.id}`, {
            workload: scenario.ceiling,
          });
        }
        results.push(result);
      }
      // Beside the intake it is compared with, on a database in the same state.
      if (scenario.id === 'intake-title' && selected('intake-webhook')) {
        const withoutEndpoint = results.find((result) => result.id === 'intake-title')?.concurrency?.okPerSecond;
        results.push(await measureIntakeWebhook(server, context, withoutEndpoint));
      }
    }
    if (selected('case-list')) {
      if (databaseUrl) results.push(...(await measureCaseList(server, context, databaseUrl)));
      else log('  case-list: PostgreSQL only (its cases are seeded by SQL beside the running server)');
    }
    if (selected('staff-queue')) {
      if (databaseUrl) results.push(...(await measureStaffQueue(server, context, databaseUrl)));
      else log('  staff-queue: PostgreSQL only (its cases are seeded by SQL beside the running server)');
    }
    if (selected('staff-loop')) {
      if (databaseUrl) results.push(await measureStaffLoop(context, databaseUrl));
      else log('  staff-loop: PostgreSQL only (its cases are seeded by SQL beside the running server)');
    }
    serverLifetimePeakRssMb = readMemory(server.pid)?.hwmMb;
  } finally {
    await server.stop();
    // Errors only: warnings include the expected "payments are simulated" notice.
    const errors = server
      .output()
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line));
    if (errors.length > 0) log(`  server logged ${errors.length} errors, e.g. ${errors[0]?.slice(0, 400)}`);
  }
  const ceilingAfter = await runDatabaseCeiling(engine, databaseUrl, 'after the scenarios');
  return {
    engine,
    scenarios: results,
    databaseCeiling: fasterRun<Extract<DatabaseCeilingResult, { available: true }>>(ceilingBefore, ceilingAfter),
    ...(serverLifetimePeakRssMb ? { serverLifetimePeakRssMb } : {}),
  };
}

async function runDatabaseCeiling(
  engine: Engine,
  databaseUrl: string | undefined,
  when: string,
  workload: Pick<
    DatabaseCeilingOptions,
    'workload' | 'path' | 'apiKey' | 'headers' | 'organizationId' | 'staffId'
  > = {},
): Promise<EngineResult['databaseCeiling']> {
  const what = workload.workload === undefined || workload.workload === 'intake' ? 'one intake' : 'one request';
  log(`${engine}: database ceiling ${when} (the SQL of ${what}, replayed from a Node client)`);
  const options: DatabaseCeilingOptions = {
    ...workload,
    engine,
    ...(databaseUrl ? { url: databaseUrl } : {}),
    connections,
    durationSeconds,
    warmupSeconds,
    phiKey,
  };
  try {
    const ceiling = await runJsonChild<DatabaseCeilingResult>('bench/ceilings/database.ts', [JSON.stringify(options)], {
      timeoutMs: (warmupSeconds + durationSeconds) * 1000 + 120_000,
    });
    if (!ceiling.available) {
      log(`  database ceiling not available: ${ceiling.reason}`);
      return ceiling;
    }
    log(
      `  database ceiling: ${ceiling.requestsPerSecond.toFixed(0)} ${what === 'one intake' ? 'intakes' : 'requests'}/s, p50 ${ceiling.latencyMs.p50} ms, ` +
        `p99 ${ceiling.latencyMs.p99} ms, ${ceiling.statementsPerIntake} statements, ${ceiling.errors} errors`,
    );
    if (ceiling.unrecordedCalls) {
      log(`  warning: the intake also called ${ceiling.unrecordedCalls.join(', ')}, which the replay does not include`);
    }
    return ceiling;
  } catch (error) {
    const reason = error instanceof Error ? error.message.slice(0, 1000) : String(error);
    log(`  database ceiling failed: ${reason}`);
    return { available: false, reason };
  }
}

async function runFrameworkCeiling(): Promise<BenchResults['frameworkCeiling']> {
  log('framework ceiling: an empty Fastify route in its own process');
  const server = await startListeningProcess('bench/ceilings/framework.ts', {}, { readyPath: '/empty' });
  cleanups.push(() => server.stop());
  const routes: { id: string; label: string; request: RequestSpec }[] = [
    { id: 'empty', label: 'GET /empty (empty Fastify route)', request: { method: 'GET', path: '/empty', headers: {} } },
    {
      id: 'json',
      label: 'POST /json (Fastify parsing the intake body, nothing else)',
      request: { method: 'POST', path: '/json', headers: {}, body: intakeByTitle('Framework ceiling') },
    },
  ];
  const results: BenchResults['frameworkCeiling'] = [];
  try {
    for (const route of routes) {
      try {
        const measurement = await runLoad(server, route.request, 'concurrency');
        log(`  ${route.label}: ${describe(measurement)}`);
        results.push({ id: route.id, label: route.label, concurrency: measurement });
      } catch (error) {
        results.push({
          id: route.id,
          label: route.label,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  } finally {
    await server.stop();
  }
  return results;
}

async function runGrowth(): Promise<GrowthResult[]> {
  log(`growth: form-title intake on PostgreSQL at 0 and at ${growthCases} existing cases`);
  const { dataDir, databaseUrl } = await prepareStorage('postgres', 'growth');
  const server = await startCare360('postgres', databaseUrl, dataDir);
  cleanups.push(() => server.stop());
  const intake = scenarios.find((scenario) => scenario.id === 'intake-title')!;
  const results: GrowthResult[] = [];
  try {
    const context = await setupContext(server);
    const measureAt = async (existingCases: number, seed?: SeedResult) => {
      let request: RequestSpec;
      try {
        request = await intake.setup(context);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        results.push({ existingCases, status: error instanceof NotAvailable ? 'not available' : 'failed', reason });
        return false;
      }
      const measurement = await runLoad(server, request, 'concurrency');
      log(`  ${existingCases} existing cases: ${describe(measurement)}`);
      results.push({ existingCases, status: 'ok', measurement, ...(seed ? { seed } : {}) });
      return true;
    };
    if (!(await measureAt(0))) return results;
    log(`  seeding ${growthCases} cases with COPY`);
    const seed = await runJsonChild<SeedResult>(
      'bench/seed-cases.ts',
      [`--url=${databaseUrl!}`, `--count=${growthCases}`, `--organization=${context.organizationId}`],
      { timeoutMs: 15 * 60_000 },
    );
    log(`  seeded ${seed.cases} cases in ${seed.seconds.toFixed(1)} s`);
    await measureAt(seed.totalCases, seed);
  } finally {
    await server.stop();
  }
  return results;
}

function gitState(): { gitCommit?: string; uncommittedSourceFiles?: string[] } {
  const git = (...gitArgs: string[]) =>
    spawnSync('git', gitArgs, { cwd: projectRoot, encoding: 'utf8', timeout: 10_000 }).stdout?.trimEnd() ?? '';
  const commit = git('rev-parse', 'HEAD');
  if (!commit) return {};
  const changed = git('status', '--porcelain', '--', 'src', 'package.json', 'package-lock.json')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.slice(3));
  return { gitCommit: commit, uncommittedSourceFiles: changed };
}

async function machine(): Promise<BenchResults['machine']> {
  return {
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    freeMemoryGbAtStart: Math.round((freemem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    node: process.version,
    postgres: await postgresVersion(adminUrl),
    loadAverageAtStart: loadavg().map((value) => Math.round(value * 100) / 100),
    ...gitState(),
  };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const kind: BenchResults['kind'] = args.growth ? 'growth' : quick ? 'quick' : 'full';
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  log(`${command}: ${kind}, ${durationSeconds} s per run after ${warmupSeconds} s warm-up, ${connections} connections`);
  const results: BenchResults = {
    kind,
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    command,
    machine: await machine(),
    options: {
      durationSeconds,
      warmupSeconds,
      connections,
      ...(rateOverride ? { rateOverride } : {}),
      rateFraction,
      serverEnvironment,
    },
    frameworkCeiling: [],
    engines: [],
  };
  try {
    if (args.growth) {
      results.growth = await runGrowth();
    } else {
      results.frameworkCeiling = await runFrameworkCeiling();
      for (const engine of engines) {
        if (engine === 'postgres' && !results.machine.postgres) {
          log(`postgres: not reachable at ${adminUrl}; skipped`);
          results.engines.push({
            engine,
            scenarios: [],
            databaseCeiling: { available: false, reason: `PostgreSQL not reachable at ${adminUrl}` },
          });
          continue;
        }
        results.engines.push(await runEngine(engine));
      }
    }
  } finally {
    await cleanUp();
  }
  results.finishedAt = new Date().toISOString();
  results.machine.loadAverageAtEnd = loadavg().map((value) => Math.round(value * 100) / 100);

  const elapsed = `${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`;
  if (quick) {
    // ISO 8601 basic format: sortable, and no ':' in a file name.
    const stamp = startedAt
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
    const directory = path.join(projectRoot, 'bench', 'results', 'tmp');
    await mkdir(directory, { recursive: true });
    const file = path.join(directory, `${stamp}-quick.json`);
    await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
    log(`results: ${path.relative(projectRoot, file)} (${elapsed})`);
  } else {
    log(`results: ${(await saveResults(results)).map((name) => `bench/results/${name}`).join(', ')} (${elapsed})`);
  }
  if (!quick && !args['skip-report']) {
    const written = await writeReport();
    log(`report: ${written.join(', ')}`);
  }
}

main().catch(async (error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  await cleanUp();
  process.exit(1);
});
