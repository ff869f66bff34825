/**
 * The database ceiling: the SQL that one real form-title intake (or one read: `workload`) sends, replayed
 * straight from a Node client at the benchmark's concurrency, with no HTTP, validation or application code
 * in between.
 *
 * `node --import tsx bench/ceilings/database.ts '<options json>'` prints one `RESULT {...}` line.
 *
 * How it stays "the same SQL": the app is built in this process over a recording Database
 * (bench/lib/sql-recorder.ts); one intake creates the form, a second reads it (and caches its
 * definition), and a third (the form reused, as in the benchmark) is recorded: every statement, its parameters and its transaction. The replay sends those
 * statements in that order with fresh values where the intake had fresh ones (every UUID that did not
 * exist before the request, the unique email / idempotencyKey, and the case's short id), so each replay is a new patient,
 * case, form response and answers, exactly like a new intake.
 *   PostgreSQL: `connections` workers share one `pg.Pool` (`poolSize`, default one connection per worker,
 *   which the bench keeps: it measured faster than the server's default of 10); `begin`/`commit` around
 *   the recorded transaction; the statements the server sends as named prepared statements (`prepared` in
 *   src/db/database.ts) are sent as the same named statements.
 *   PGlite: the same in-process PGlite API the server uses (one instance; it runs one query at a time).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase, preparedStatementName, type Database, type Queryable } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { intakeByTitle, intakeWithTwoPhi, STAFF_LOOP_DECISION, STAFF_LOOP_NEXT_PAGE, UNIQUE } from '../lib/bodies.ts';
import { printResult } from '../lib/processes.ts';
import { summarizeLatencies, type LatencySummary } from '../lib/stats.ts';
import { planOf, render, type Fresh, type FreshValues, type Segment, type Step } from '../lib/replay.ts';
import { newShortId } from '../../src/modules/cases/lifecycle/short-id.ts';
import { recordingDatabase, type RecordedStatement } from '../lib/sql-recorder.ts';

export interface DatabaseCeilingOptions {
  engine: 'pglite' | 'postgres';
  /**
   * What is recorded and replayed: one form-title intake (the default); the case detail of a case of 6
   * answers (2 PHI) made in the ceiling's own organization; or GET `path` with `apiKey` (PostgreSQL: the
   * server's data, e.g. the case list of a seeded organization).
   */
  workload?: 'intake' | 'case-detail' | 'request' | 'staff-loop';
  path?: string;
  /** The request's headers instead of `cv-api-key` (a staff session's bearer: the staff queue, the staff loop). */
  headers?: Record<string, string>;
  /**
   * `staff-loop`: a provider's decide-and-next loop on an OPEN case of this organization (assign to `staffId`,
   * start review, approve, then the queue's first page), each replay on another of its OPEN cases.
   */
  organizationId?: string;
  staffId?: string;
  /** An existing organization's key (else the ceiling makes an organization of its own). */
  apiKey?: string;
  /** PostgreSQL: the benchmark database (already migrated by the server). */
  url?: string;
  connections: number;
  /** PostgreSQL: connections the workers share (default: one each). */
  poolSize?: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** The server's PHI key for this database (a random one when absent). */
  phiKey?: string;
}

export type DatabaseCeilingResult =
  | { available: false; reason: string }
  | {
      available: true;
      statementsPerIntake: number;
      /** Database methods the intake used that the recorder does not record: the replay misses their SQL. */
      unrecordedCalls?: string[];
      inTransaction: number;
      statements: string[];
      requestsPerSecond: number;
      latencyMs: LatencySummary;
      total: number;
      errors: number;
      firstError?: string;
      clientCpuPercent: number;
    };

const RECORDED_UNIQUE = `rec${randomBytes(6).toString('hex')}`;

/** How long to let work that ends after a response (the batched audit insert) land. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

/**
 * Builds the app over a recording database and records one request of the workload: for the intake, the
 * first intake creates the form, the second reads it (and caches its definition), and the third (the form
 * reused, as in the benchmark) is recorded; for a read, the third of three identical requests.
 */
async function record(
  db: Database,
  dataDir: string,
  phiKey: string,
  options: DatabaseCeilingOptions,
): Promise<{
  statements: RecordedStatement[];
  keep: Set<string>;
  freshValues: FreshValues;
  unrecordedCalls: string[];
}> {
  const recorder = recordingDatabase(db);
  const adminToken = randomBytes(16).toString('hex');
  const config = loadConfig({
    ADMIN_TOKEN: adminToken,
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    PHI_ENCRYPTION_KEY: phiKey,
    RATE_LIMIT_PER_KEY: '1000000000',
    RATE_LIMIT_PER_ADDRESS: '1000000000',
  });
  const app = await buildApp({ config, db: recorder.db, logger: false });
  try {
    await app.ready();
    let apiKey = options.apiKey;
    if (!apiKey) {
      const organization = await app.inject({
        method: 'POST',
        url: '/admin/v1/organizations',
        headers: { authorization: `Bearer ${adminToken}` },
        payload: { name: `Database ceiling ${Date.now()}` },
      });
      if (organization.statusCode !== 201) throw new Error(`creating an organization: ${organization.body}`);
      apiKey = organization.json<{ apiKey: string }>().apiKey;
    }
    const intake = (unique: string, body = intakeByTitle('Database ceiling intake')) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/dynamic-case',
        headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
        payload: body.split(UNIQUE).join(unique),
      });
    const workload = options.workload ?? 'intake';
    let send: (unique: string) => ReturnType<typeof intake>;
    /** staff-loop: the OPEN cases each replay takes one of (the recorded loop's case is replaced by the next). */
    let loopCases: string[] = [];
    let loopCase = 0;
    if (workload === 'intake') {
      send = (unique) => intake(unique);
    } else if (workload === 'staff-loop') {
      const { rows } = await db.query<{ id: string }>(
        `select id::text as id from cases
          where organization_id = $1 and status = 'OPEN' and assignee_staff_id is null and not is_archived
          order by created_at desc, id desc limit 200000`,
        [options.organizationId],
      );
      loopCases = rows.map((row) => row.id);
      if (loopCases.length < 10) throw new NotAvailable(`only ${loopCases.length} OPEN cases for the staff loop`);
      const headers = { ...options.headers, 'content-type': 'application/json' };
      const post = (caseId: string, action: string, payload: object) =>
        app.inject({ method: 'POST', url: `/staff/v1/cases/${caseId}/${action}`, headers, payload });
      send = async () => {
        const caseId = loopCases[loopCase++]!;
        for (const response of [
          await post(caseId, 'assign', { assigneeId: options.staffId }),
          await post(caseId, 'start-review', {}),
          await post(caseId, 'decisions', STAFF_LOOP_DECISION),
        ]) {
          if (response.statusCode !== 200) return response;
        }
        return app.inject({ method: 'GET', url: STAFF_LOOP_NEXT_PAGE, headers: options.headers });
      };
    } else {
      let path = options.path;
      if (workload === 'case-detail') {
        const created = await intake(`detail${RECORDED_UNIQUE}`, intakeWithTwoPhi('Database ceiling case detail'));
        if (created.statusCode !== 200)
          throw new NotAvailable(`intake answered ${created.statusCode}: ${created.body}`);
        path = `/api/v1/customer-case-detail?caseId=${created.json<{ data: { caseId: string } }>().data.caseId}`;
      }
      if (!path) throw new Error(`the ${workload} workload needs a path`);
      const url = path;
      const headers = options.headers ?? { 'cv-api-key': apiKey };
      send = () => app.inject({ method: 'GET', url, headers });
    }
    for (const warmUp of ['first', 'second']) {
      const response = await send(`${warmUp}${RECORDED_UNIQUE}`);
      if (response.statusCode !== 200)
        throw new NotAvailable(`${workload} answered ${response.statusCode}: ${response.body.slice(0, 300)}`);
    }

    const { rows } = await db.query<{ id: string }>(
      `select id::text as id from organizations union all select id::text from api_keys
       union all select id::text from forms union all select id::text from questions
       union all select id::text from staff_members`,
    );
    const keep = new Set(rows.map((row) => row.id.toLowerCase()));

    // Anything still in flight from the warm-up requests (e.g. an audit write after the response) lands first.
    await settle();
    recorder.statements.length = 0;
    const recorded = await send(RECORDED_UNIQUE);
    if (recorded.statusCode !== 200)
      throw new NotAvailable(`${workload} answered ${recorded.statusCode}: ${recorded.body.slice(0, 300)}`);
    await settle();
    const statements = [...recorder.statements];
    if (workload === 'staff-loop') {
      // Every replay acts on a case of its own (the next OPEN one); what the loop makes (decision, events,
      // audit rows) is new in each.
      for (const id of loopCases) keep.add(id);
      const recordedCase = loopCases[loopCase - 1]!;
      return {
        statements,
        keep,
        freshValues: new Map([[recordedCase, () => loopCases[loopCase++ % loopCases.length]!]]),
        unrecordedCalls: [...recorder.unrecordedCalls],
      };
    }
    if (workload !== 'intake') {
      // A read makes nothing but its audit events: every id it reads by (the case, the cursor's) is kept.
      for (const statement of statements.filter((candidate) => !/^\s*insert\b/i.test(candidate.text))) {
        for (const id of JSON.stringify(statement.params).match(UUID_PATTERN) ?? []) keep.add(id.toLowerCase());
      }
      // The audit event a read writes in its own statement (the case detail) is new in each replay.
      const { rows: events } = await db.query<{ id: string }>('select id::text as id from audit_events');
      for (const event of events) keep.delete(event.id.toLowerCase());
    }
    return {
      statements,
      keep,
      freshValues:
        workload === 'intake'
          ? await caseFreshValues(db, recorded.json<{ data: { caseId: string } }>().data.caseId)
          : new Map(),
      unrecordedCalls: [...recorder.unrecordedCalls],
    };
  } finally {
    await app.close();
  }
}

const UUID_PATTERN = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

class NotAvailable extends Error {}

/**
 * The values of a new case that a unique index holds besides its UUIDs: its short id (unique per
 * organization), drawn again for every replay as the server draws it.
 */
async function caseFreshValues(db: Queryable, caseId: string): Promise<FreshValues> {
  const { rows } = await db.query<{ short_id: string }>('select short_id from cases where id = $1', [caseId]);
  const shortId = rows[0]?.short_id;
  if (!shortId) throw new Error(`the recorded case ${caseId} has no short id`);
  return new Map([[shortId, newShortId]]);
}

interface Runner {
  runOnce(segments: readonly Segment[], fresh: Fresh): Promise<void>;
  close(): Promise<void>;
}

/**
 * The server's way to PostgreSQL, without the server: one `pg.Pool` of `poolSize` connections shared by
 * every worker, a statement outside a transaction on whichever connection is free, a transaction on one
 * connection held for it.
 */
function postgresRunners(url: string, workers: number, poolSize: number): Runner[] {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  let ending: Promise<void> | undefined;
  pool.on('error', () => undefined);
  const send = (target: pg.Pool | pg.PoolClient, step: Step, fresh: Fresh) => {
    // As the server sends it: a statement the code marks `prepared` goes as a named prepared statement.
    const name = preparedStatementName(step.text);
    return target.query({ text: step.text, values: render(step, fresh), ...(name ? { name } : {}) });
  };
  const runner: Runner = {
    async runOnce(segments, fresh) {
      for (const segment of segments) {
        if (!segment.transaction) {
          for (const step of segment.steps) await send(pool, step, fresh);
          continue;
        }
        const client = await pool.connect();
        try {
          await client.query('begin');
          for (const step of segment.steps) await send(client, step, fresh);
          await client.query('commit');
        } catch (error) {
          await client.query('rollback').catch(() => undefined);
          throw error;
        } finally {
          client.release();
        }
      }
    },
    // Every worker shares this runner: the first close ends the pool, the others wait for the same end.
    close: () => (ending ??= pool.end()),
  };
  return Array.from({ length: workers }, () => runner);
}

function pgliteRunner(db: Database): Runner {
  const run = async (target: Queryable, steps: readonly Step[], fresh: Fresh) => {
    for (const step of steps) await target.query(step.text, render(step, fresh));
  };
  return {
    async runOnce(segments, fresh) {
      for (const segment of segments) {
        if (segment.transaction) await db.transaction((tx) => run(tx, segment.steps, fresh));
        else await run(db, segment.steps, fresh);
      }
    },
    close: async () => undefined,
  };
}

/** Numbers every replay in this process (warm-up and measurement), so no two replays share a value. */
let counter = 0;

async function drive(runners: readonly Runner[], segments: readonly Segment[], seconds: number) {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    runners.map(async (runner) => {
      while (performance.now() < deadline) {
        const fresh: Fresh = {
          unique: `c${(++counter).toString(36)}${RECORDED_UNIQUE}`,
          uuids: new Map(),
          values: new Map(),
        };
        const begin = performance.now();
        try {
          await runner.runOnce(segments, fresh);
          latencies.push(performance.now() - begin);
        } catch (error) {
          errors += 1;
          firstError ??= error instanceof Error ? error.message : String(error);
          if (errors > 1000) break; // something is wrong; do not spin on errors
        }
      }
    }),
  );
  return { latencies, errors, firstError, elapsedSeconds: (performance.now() - started) / 1000 };
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as DatabaseCeilingOptions;
  const dataDir = await mkdtemp(path.join(tmpdir(), 'care360-db-ceiling-'));
  let db: Database | undefined;
  const runners: Runner[] = [];
  try {
    if (options.engine === 'postgres') {
      if (!options.url) throw new Error('url is required for postgres');
      db = await openDatabase({ engine: 'postgres', url: options.url, poolSize: 2 });
    } else {
      db = await openDatabase({ engine: 'pglite', dataDir });
    }
    await migrate(db);
    let recorded: Awaited<ReturnType<typeof record>>;
    try {
      recorded = await record(db, dataDir, options.phiKey ?? randomBytes(32).toString('hex'), options);
    } catch (error) {
      if (error instanceof NotAvailable) {
        printResult({ available: false, reason: error.message } satisfies DatabaseCeilingResult);
        return;
      }
      throw error;
    }
    const segments = planOf(recorded.statements, recorded.keep, RECORDED_UNIQUE, recorded.freshValues);
    if (options.engine === 'postgres') {
      runners.push(...postgresRunners(options.url!, options.connections, options.poolSize ?? options.connections));
    } else {
      // PGlite serves one query at a time; several workers still keep it busy between a worker's awaits.
      for (let index = 0; index < options.connections; index += 1) runners.push(pgliteRunner(db));
    }
    if (options.warmupSeconds > 0) await drive(runners, segments, options.warmupSeconds);
    const cpuBefore = process.cpuUsage();
    const measured = await drive(runners, segments, options.durationSeconds);
    const cpu = process.cpuUsage(cpuBefore);
    printResult({
      available: true,
      statementsPerIntake: recorded.statements.length,
      ...(recorded.unrecordedCalls.length > 0 ? { unrecordedCalls: recorded.unrecordedCalls } : {}),
      inTransaction: recorded.statements.filter((statement) => statement.transaction !== null).length,
      statements: recorded.statements.map((statement) => statement.text.replace(/\s+/g, ' ').trim().slice(0, 100)),
      requestsPerSecond: measured.latencies.length / measured.elapsedSeconds,
      latencyMs: summarizeLatencies(measured.latencies),
      total: measured.latencies.length,
      errors: measured.errors,
      ...(measured.firstError ? { firstError: measured.firstError } : {}),
      clientCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / measured.elapsedSeconds) * 100),
    } satisfies DatabaseCeilingResult);
  } finally {
    for (const runner of runners) await runner.close().catch(() => undefined);
    await db?.close().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
