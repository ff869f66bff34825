/**
 * Every query the benchmark's hot paths send uses an index (issue 6). The app runs over a recording
 * database (bench/lib/sql-recorder.ts), the benchmark's own requests go through it (app.inject), and
 * each recorded statement is planned again with EXPLAIN, `enable_seqscan = off`, on a database holding
 * thousands of rows of the organization in every growing table: a Seq Scan left in such a plan means no
 * index can serve the query,
 * and an index scan without an Index Cond means the whole index is read. Runs on the suite's engine
 * (PGlite, or PostgreSQL with TEST_DATABASE_URL; CI runs both). Not a timed test: no speed is asserted.
 */
import assert from 'node:assert/strict';
import { after, before, test, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Database } from '../../src/db/database.ts';
import { casePayment, fileQuestion, intakeByFormId, intakeByTitle, UNIQUE } from '../../bench/lib/bodies.ts';
import { isExplainable, recordingDatabase, type RecordedStatement } from '../../bench/lib/sql-recorder.ts';
import { ADMIN_TOKEN } from '../support/app.ts';
import { freshDatabase } from '../support/database.ts';
import { bearer, staffMember } from '../staff/support.ts';

/** Tables whose size does not grow with traffic: a scan of them is not a growth problem. */
const SMALL_TABLES = new Set(['organizations', 'schema_migrations', 'staff_members']);
const BACKGROUND_ROWS = 5000;
const BACKGROUND_FORMS = 500;
/** No hot-path scan may read more rows than this, while the organization holds thousands. */
const MAX_ROWS_READ = 100;
/**
 * The staff queue's count cap here: each status is counted over at most cap + 1 cases, so with seven statuses
 * a cap of 10 keeps the counts within MAX_ROWS_READ while the organization holds thousands of OPEN cases.
 */
const QUEUE_COUNT_CAP = 10;

let database: { db: Database; drop: () => Promise<void> };
let recorder: ReturnType<typeof recordingDatabase>;
let app: FastifyInstance;
let apiKey: string;
let counter = 0;

const unique = (template: string) => template.split(UNIQUE).join(`explain-${++counter}`);

async function send(method: 'GET' | 'POST', url: string, body?: string) {
  const response = await app.inject({
    method,
    url,
    headers: { 'cv-api-key': apiKey, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { payload: body } : {}),
  });
  return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
}

/** The statements one request sends (after a moment for work that finishes after the response). */
async function statementsOf(request: () => Promise<{ status: number; body: unknown }>): Promise<RecordedStatement[]> {
  await new Promise((resolve) => setTimeout(resolve, 50));
  recorder.statements.length = 0;
  const response = await request();
  assert.ok(
    response.status >= 200 && response.status < 300,
    `request answered ${response.status}: ${JSON.stringify(response.body)}`,
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  return [...recorder.statements];
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

function nodesOf(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodesOf)];
}

class RollBack extends Error {}

/**
 * The problems of one statement's plan: sequential scans, index scans without a condition and, for
 * statements that can run again (SELECT, UPDATE, DELETE: run with EXPLAIN ANALYZE in a transaction
 * that is rolled back), scans that read more than MAX_ROWS_READ rows of the organization's thousands.
 */
async function planProblems(statement: RecordedStatement): Promise<string[]> {
  const analyze = /^\s*(select|update|delete)\b/i.test(statement.text);
  let raw: unknown;
  try {
    await database.db.transaction(async (tx) => {
      await tx.query('set local enable_seqscan = off');
      const { rows } = await tx.query<{ 'QUERY PLAN': unknown }>(
        `explain (${analyze ? 'analyze, ' : ''}format json) ${statement.text}`,
        statement.params,
      );
      raw = rows[0]?.['QUERY PLAN'];
      throw new RollBack();
    });
  } catch (error) {
    if (!(error instanceof RollBack)) throw error;
  }
  const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PlanNode }[];
  const problems: string[] = [];
  for (const node of nodesOf(plan[0]!.Plan)) {
    const relation = node['Relation Name'];
    if (!relation || SMALL_TABLES.has(relation)) continue;
    const type = node['Node Type'];
    if (type === 'Seq Scan') problems.push(`Seq Scan on ${relation}`);
    if (/^(Index Scan|Index Only Scan|Bitmap Index Scan)$/.test(type) && !node['Index Cond']) {
      problems.push(`${type} on ${relation} using ${node['Index Name']} without an Index Cond (reads the whole index)`);
    }
    if (analyze && node['Actual Rows'] !== undefined) {
      const loops = node['Actual Loops'] ?? 1;
      const read =
        (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) *
        loops;
      if (read > MAX_ROWS_READ) problems.push(`${type} on ${relation} read ${read} rows`);
    }
  }
  return problems;
}

/**
 * Problems found by this test and reported to the code's owners, not fixed yet: matching failures mark
 * the test TODO (shown, not failing the suite). Remove an entry when its fix lands.
 */
// FormRepository.activeQuestions reading every question of the organization was found here and fixed in b574949.
const KNOWN_ISSUES: { statement: RegExp; problem: RegExp; note: string }[] = [];

async function assertIndexed(t: TestContext, statements: RecordedStatement[]): Promise<void> {
  const explainable = statements.filter((statement) => isExplainable(statement.text));
  assert.ok(explainable.length > 0, 'the request sent no query');
  const failures: string[] = [];
  const known = new Set<string>();
  let unknownCount = 0;
  for (const statement of explainable) {
    const problems = await planProblems(statement);
    const unknown = problems.filter(
      (problem) => !KNOWN_ISSUES.some((issue) => issue.statement.test(statement.text) && issue.problem.test(problem)),
    );
    if (unknown.length < problems.length) {
      known.add(KNOWN_ISSUES.find((issue) => issue.statement.test(statement.text))!.note);
    }
    unknownCount += unknown.length;
    if (problems.length > 0)
      failures.push(`${problems.join('; ')}\n    in: ${statement.text.replace(/\s+/g, ' ').slice(0, 240)}`);
  }
  if (failures.length > 0 && unknownCount === 0) t.todo(`known issue: ${[...known].join('; ')}`);
  assert.deepEqual(failures, [], `queries that use no index:\n  ${failures.join('\n  ')}`);
}

before(async () => {
  database = await freshDatabase();
  recorder = recordingDatabase(database.db);
  const config = loadConfig({
    ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_KEY: '0',
    RATE_LIMIT_PER_ADDRESS: '0',
    PHI_ENCRYPTION_KEY: 'a'.repeat(64),
  });
  config.limits.queueCountCap = QUEUE_COUNT_CAP;
  app = await buildApp({ config, db: recorder.db, logger: false });
  await app.ready();
  const created = await app.inject({
    method: 'POST',
    url: '/admin/v1/organizations',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    payload: { name: 'Explain test' },
  });
  assert.equal(created.statusCode, 201, created.body);
  const organization = created.json<{ apiKey: string; organizationId: string }>();
  apiKey = organization.apiKey;

  // Thousands of rows of this organization (one big tenant) in every table that grows with use, then
  // fresh statistics. (Ids are derived from the row number: the same SQL runs on both engines.)
  const id = (prefix: string, expression = 'i') =>
    `('${prefix}-0000-4000-8000-' || lpad((${expression})::text, 12, '0'))::uuid`;
  await database.db.exec(`
    insert into patients (id, organization_id, email, first_name, last_name)
      select ${id('10000000')}, '${organization.organizationId}', 'background-' || i || '@example.com', 'Back', 'Ground'
        from generate_series(1, ${BACKGROUND_ROWS}) as i;
    insert into cases (id, organization_id, patient_id, idempotency_key)
      select ${id('20000000')}, '${organization.organizationId}', ${id('10000000')}, 'background-' || i
        from generate_series(1, ${BACKGROUND_ROWS}) as i;
    insert into forms (id, organization_id, title)
      select ${id('30000000')}, '${organization.organizationId}', 'Background form ' || i
        from generate_series(1, ${BACKGROUND_FORMS}) as i;
    insert into questions (id, organization_id, form_id, position, question, type)
      select ${id('40000000')}, '${organization.organizationId}', ${id('30000000', '1 + i % ' + BACKGROUND_FORMS)},
             i / ${BACKGROUND_FORMS}, 'Background question ' || i, 'TEXT'
        from generate_series(1, ${BACKGROUND_FORMS * 6}) as i;
    insert into form_responses (id, organization_id, case_id, form_id, patient_id)
      select ${id('50000000')}, '${organization.organizationId}', ${id('20000000')},
             ${id('30000000', '1 + i % ' + BACKGROUND_FORMS)}, ${id('10000000')}
        from generate_series(1, ${BACKGROUND_ROWS}) as i;
    insert into answers (id, organization_id, form_response_id, question_id, question_type, value)
      select ${id('60000000')}, '${organization.organizationId}', ${id('50000000')},
             ${id('40000000', '1 + i % ' + BACKGROUND_FORMS * 6)}, 'TEXT', '"background"'::jsonb
        from generate_series(1, ${BACKGROUND_ROWS}) as i;
    insert into case_payments (id, organization_id, case_id, amount_cents, idempotency_key)
      select ${id('70000000')}, '${organization.organizationId}', ${id('20000000')}, 100, 'background-' || i
        from generate_series(1, ${BACKGROUND_ROWS}) as i;
    insert into audit_events (id, organization_id, action, resource_type, outcome, status_code, request_id)
      select ${id('80000000')}, '${organization.organizationId}', 'case.create', 'case', 'success', 200, 'background-' || i
        from generate_series(1, ${BACKGROUND_ROWS}) as i;
    analyze;
  `);
  // The form of the title scenario exists before the recorded request, as in the benchmark.
  assert.equal((await send('POST', '/api/v1/dynamic-case', unique(intakeByTitle('Explain intake')))).status, 200);
});

after(async () => {
  await app?.close();
  await database?.drop();
});

test('intake by form title (form reused): every query uses an index', async (t) => {
  await assertIndexed(
    t,
    await statementsOf(() => send('POST', '/api/v1/dynamic-case', unique(intakeByTitle('Explain intake')))),
  );
});

test('intake by form id: every query uses an index', async (t) => {
  const forms = await send('GET', `/api/v1/forms?title=${encodeURIComponent('Explain intake')}`);
  assert.equal(forms.status, 200, JSON.stringify(forms.body));
  const form = (
    forms.body as { data: { forms: { id: string; questions: { questionId: string; question: string }[] }[] } }
  ).data.forms[0]!;
  await assertIndexed(
    t,
    await statementsOf(() => send('POST', '/api/v1/dynamic-case', unique(intakeByFormId(form.id, form.questions)))),
  );
});

test('intake with an inline file: every query uses an index', async (t) => {
  await assertIndexed(
    t,
    await statementsOf(() =>
      send('POST', '/api/v1/dynamic-case', unique(intakeByTitle('Explain intake with a file', [fileQuestion(2048)]))),
    ),
  );
});

test('case payment: every query uses an index', async (t) => {
  const intake = await send('POST', '/api/v1/dynamic-case', unique(intakeByTitle('Explain payments')));
  const caseId = (intake.body as { data: { caseId: string } }).data.caseId;
  const probe = await send('POST', `/api/v1/cases/${caseId}/payments`, unique(casePayment(false)));
  if (probe.status === 404 && /Route/.test(JSON.stringify(probe.body))) return t.skip('no case payments endpoint yet');
  await assertIndexed(
    t,
    await statementsOf(() => send('POST', `/api/v1/cases/${caseId}/payments`, unique(casePayment(false)))),
  );
});

test('case payment with preauthorize: every query uses an index', async (t) => {
  const setup = await send('POST', '/api/v1/payments/setup', '{}');
  if (setup.status !== 200) return t.skip(`no payments/setup (${setup.status})`);
  const stripeSetupId = String((setup.body as { paymentSecret: string }).paymentSecret).split('_secret_')[0];
  const body = {
    ...(JSON.parse(unique(intakeByTitle('Explain payments'))) as object),
    stripeSetupId,
    paymentAmount: 100,
  };
  const intake = await send('POST', '/api/v1/dynamic-case', JSON.stringify(body));
  const caseId = (intake.body as { data: { caseId: string } }).data.caseId;
  const probe = await send('POST', `/api/v1/cases/${caseId}/payments`, unique(casePayment(true)));
  // The intake's stripeSetupId saves the card only once intake payments are wired to the gateway.
  if (probe.status !== 200) return t.skip(`preauthorize not possible yet: ${JSON.stringify(probe.body)}`);
  await assertIndexed(
    t,
    await statementsOf(() => send('POST', `/api/v1/cases/${caseId}/payments`, unique(casePayment(true)))),
  );
});

test('promo code lookup: every query uses an index', async (t) => {
  const organizations = await app.inject({
    method: 'GET',
    url: '/admin/v1/organizations',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  const organizationId = organizations
    .json<{ organizations: { id: string; name: string }[] }>()
    .organizations.find((organization) => organization.name === 'Explain test')!.id;
  const created = await app.inject({
    method: 'POST',
    url: '/admin/v1/promo-codes',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    payload: { organizationId, code: 'EXPLAIN10', percentDiscount: 10 },
  });
  if (created.statusCode === 404) return t.skip('no promo code admin endpoint yet');
  assert.equal(created.statusCode, 201, created.body);
  await assertIndexed(t, await statementsOf(() => send('GET', '/api/v1/promo-codes?code=EXPLAIN10')));
});

test('case detail and case list pages: every query uses an index', async (t) => {
  const intake = await send(
    'POST',
    '/api/v1/dynamic-case',
    unique(intakeByTitle('Explain reads', [fileQuestion(512)])),
  );
  const caseId = (intake.body as { data: { caseId: string } }).data.caseId;
  await assertIndexed(
    t,
    await statementsOf(() => send('GET', `/api/v1/customer-case-detail?caseId=${caseId}&includeAttachments=true`)),
  );
  const range = new URLSearchParams({
    startTime: new Date(Date.now() - 24 * 60 * 60 * 1000).toISOString(),
    endTime: new Date(Date.now() + 24 * 60 * 60 * 1000).toISOString(),
    recordsPerPage: '20',
  });
  const first = await statementsOf(() => send('GET', `/api/v1/cases?${range}`));
  await assertIndexed(t, first);
  const page = await send('GET', `/api/v1/cases?${range}`);
  const end = (page.body as { pageInfo: { cursor: { end: string } } }).pageInfo.cursor.end;
  await assertIndexed(t, await statementsOf(() => send('GET', `/api/v1/cases?${range}&after=${end}&status=OPEN`)));
});

test('staff queue first page with counts per status: every query uses an index', async (t) => {
  const organizationId = (
    await database.db.query<{ organization_id: string }>(`select organization_id from cases limit 1`)
  ).rows[0]!.organization_id;
  const support = await staffMember(app, 'SUPPORT', { organizationIds: [organizationId] });
  const queue = async (query: string) => {
    const response = await app.inject({ url: `/staff/v1/cases${query}`, headers: bearer(support) });
    return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
  };
  const first = await queue('?limit=25');
  assert.deepEqual(
    [
      (first.body as { counts: Record<string, number> }).counts.OPEN,
      (first.body as { countsCapped: object }).countsCapped,
    ],
    [QUEUE_COUNT_CAP, { OPEN: true }],
    'the thousands of OPEN cases count as the cap',
  );
  await assertIndexed(t, await statementsOf(() => queue('?limit=25')));
  const day = 24 * 60 * 60 * 1000;
  const range = new URLSearchParams({
    createdFrom: new Date(Date.now() - day).toISOString(),
    createdTo: new Date(Date.now() + day).toISOString(),
    status: 'OPEN',
  });
  await assertIndexed(t, await statementsOf(() => queue(`?${range}`)));
});

/** Index pages one statement reads (shared buffers hit or read), from EXPLAIN (ANALYZE, BUFFERS). */
async function pagesRead(statement: RecordedStatement): Promise<number> {
  let raw: unknown;
  await database.db
    .transaction(async (tx) => {
      const { rows } = await tx.query<{ 'QUERY PLAN': unknown }>(
        `explain (analyze, buffers, format json) ${statement.text}`,
        statement.params,
      );
      raw = rows[0]?.['QUERY PLAN'];
      throw new RollBack();
    })
    .catch((error: unknown) => {
      if (!(error instanceof RollBack)) throw error;
    });
  const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as {
    Plan: { 'Shared Hit Blocks': number; 'Shared Read Blocks': number };
  }[];
  return plan[0]!.Plan['Shared Hit Blocks'] + plan[0]!.Plan['Shared Read Blocks'];
}

test('staff queue counts of an ADMIN of every organization: each status is one index range', async (t) => {
  // No organization condition: a status must lead an index, or a rare status (none of the thousands of cases
  // here is APPROVED) is looked for through the whole (organization_id, status, ...) index. Rows read do not
  // show that (a scan that finds nothing reads no row), the pages it reads do.
  const admin = await staffMember(app, 'ADMIN');
  const statements = await statementsOf(async () => {
    const response = await app.inject({ url: '/staff/v1/cases?limit=25', headers: bearer(admin) });
    return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
  });
  await assertIndexed(t, statements);
  const counts = statements.filter((statement) => statement.text.includes("select 'APPROVED' as status"));
  assert.equal(counts.length, 1, 'the counts are one statement');
  const pages = await pagesRead(counts[0]!);
  // Seven index ranges, the OPEN one read up to the cap (QUEUE_COUNT_CAP + 1 cases): a few pages each. The whole
  // index of the thousands of cases, read once per rare status, is well over a hundred.
  assert.ok(pages <= 60, `the counts read ${pages} pages`);
});

test('staff queue first page of a member of one organization: page and counts read a bounded number of pages', async (t) => {
  // The page is one (organization_id, created_at, id) range read up to the page's size, joined to its patients; the
  // counts read each status's range up to the cap. Neither may read the organization's thousands of cases: that
  // alone is hundreds of pages, where the bounded reads stay within a few dozen each.
  const organizationId = (
    await database.db.query<{ organization_id: string }>(`select organization_id from cases limit 1`)
  ).rows[0]!.organization_id;
  const support = await staffMember(app, 'SUPPORT', { organizationIds: [organizationId] });
  const statements = await statementsOf(async () => {
    const response = await app.inject({ url: '/staff/v1/cases?limit=25', headers: bearer(support) });
    return { status: response.statusCode, body: response.json<Record<string, unknown>>() };
  });
  await assertIndexed(t, statements);
  const counts = statements.filter((statement) => statement.text.includes("select 'APPROVED' as status"));
  const page = statements.filter((statement) => statement.text.includes('cross join lateral'));
  assert.deepEqual([counts.length, page.length], [1, 1], 'one statement for the counts, one for the page');
  const pages = { counts: await pagesRead(counts[0]!), page: await pagesRead(page[0]!) };
  assert.ok(pages.counts <= 60 && pages.page <= 150, `pages read: ${JSON.stringify(pages)}`);
});
