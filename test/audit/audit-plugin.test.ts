import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerAudit } from '../../src/http/audit.ts';
import { AuthFailureLimiter, registerAuthentication } from '../../src/http/gate.ts';
import { ApiError } from '../../src/http/api-error.ts';
import { registerErrorHandling } from '../../src/http/error-handler.ts';
import { AuditLog, type AuditEventStore } from '../../src/modules/audit/audit-log.ts';
import { AuditRepository, type AuditEvent, type AuditEventRow } from '../../src/modules/audit/repository.ts';
import { createTestContext, type TestContext } from '../support/app.ts';

/** A string that stands for PHI: it must never reach the audit table or the log. */
const PHI = 'Jane-Doe-1970-01-01-PHI-MARKER';

/** Probe routes the way a module declares them: only `config.audit` is added. */
function probeRoutes(app: FastifyInstance): void {
  app.get(
    '/cases/:caseId',
    { config: { auth: 'apiKey', envelope: 'intake', audit: { action: 'case.read', resourceType: 'case' } } },
    async (request) => {
      const { caseId } = request.params as { caseId: string };
      if (caseId === 'missing') throw new ApiError(404, 'Case not found');
      return { requestId: request.id };
    },
  );
  app.post(
    '/cases',
    { config: { auth: 'apiKey', envelope: 'intake', audit: { action: 'case.create', resourceType: 'case' } } },
    async (request) => {
      request.auditResourceId = 'case-created-by-handler';
      return { requestId: request.id };
    },
  );
  app.get(
    '/cases/:caseId/payments/:paymentId',
    {
      config: {
        auth: 'apiKey',
        envelope: 'payments',
        audit: { action: 'payment.read', resourceType: 'payment' },
      },
    },
    async (request) => ({ requestId: request.id }),
  );
  app.get(
    '/files/:fileId/content',
    {
      config: { auth: 'apiKey', audit: { action: 'file.read', resourceType: 'file', resourceIdParam: 'fileId' } },
    },
    async (request) => ({ requestId: request.id }),
  );
  app.get('/unaudited', { config: { auth: 'apiKey' } }, async () => ({ ok: true }));
}

async function buildProbe(context: TestContext, auditLog: AuditLog, logStream?: Writable): Promise<FastifyInstance> {
  const app = Fastify({ logger: logStream ? { level: 'error', stream: logStream } : false });
  registerErrorHandling(app);
  registerAuthentication(app, {
    organizations: context.services.organizations,
    limiter: new AuthFailureLimiter(1000, 60_000),
    adminToken: undefined,
  });
  registerAudit(app, { auditLog });
  probeRoutes(app);
  await app.ready();
  return app;
}

describe('audit events for routes that declare config.audit', () => {
  let context: TestContext;
  let app: FastifyInstance;
  let auditLog: AuditLog;
  let organization: { organizationId: string; apiKey: string; apiKeyId: string };

  const eventsFor = async (requestId: string) => {
    await auditLog.flush();
    const { rows } = await context.db.query<AuditEventRow>('select * from audit_events where request_id = $1', [
      requestId,
    ]);
    return rows;
  };

  before(async () => {
    context = await createTestContext();
    organization = await context.organization();
    auditLog = new AuditLog(new AuditRepository(context.db));
    app = await buildProbe(context, auditLog);
  });
  after(async () => {
    await app.close();
    await context.close();
  });

  it('records who read which resource, from where, with what outcome', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/cases/case-123',
      headers: { 'cv-api-key': organization.apiKey },
    });
    assert.equal(response.statusCode, 200);
    const events = await eventsFor(response.json().requestId);
    assert.equal(events.length, 1);
    const [event] = events;
    assert.ok(event);
    assert.equal(event.organization_id, organization.organizationId);
    assert.equal(event.api_key_id, organization.apiKeyId);
    assert.equal(event.action, 'case.read');
    assert.equal(event.resource_type, 'case');
    assert.equal(event.resource_id, 'case-123');
    assert.equal(event.outcome, 'success');
    assert.equal(event.status_code, 200);
    assert.equal(event.client_address, '127.0.0.1');
    assert.ok(event.occurred_at instanceof Date);
  });

  it('takes the resource id the handler sets, or the declared route param', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/cases',
      headers: { 'cv-api-key': organization.apiKey },
      payload: { firstName: PHI },
    });
    assert.equal(created.statusCode, 200);
    const [createEvent] = await eventsFor(created.json().requestId);
    assert.equal(createEvent?.action, 'case.create');
    assert.equal(createEvent?.resource_id, 'case-created-by-handler');

    const payment = await app.inject({
      method: 'GET',
      url: '/cases/c-1/payments/p-9',
      headers: { 'cv-api-key': organization.apiKey },
    });
    const [paymentEvent] = await eventsFor(payment.json().requestId);
    assert.equal(paymentEvent?.resource_type, 'payment');
    assert.equal(paymentEvent?.resource_id, 'p-9', 'paymentId, the param named after the resource type');

    const file = await app.inject({
      method: 'GET',
      url: '/files/f-7/content',
      headers: { 'cv-api-key': organization.apiKey },
    });
    const [fileEvent] = await eventsFor(file.json().requestId);
    assert.equal(fileEvent?.resource_id, 'f-7');
  });

  it('records a failed request as a failure, with its status', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/cases/missing',
      headers: { 'cv-api-key': organization.apiKey, 'x-request-id': 'ignored-by-bare-fastify' },
    });
    assert.equal(response.statusCode, 404);
    await auditLog.flush();
    const { rows } = await context.db.query<AuditEventRow>(
      "select * from audit_events where resource_id = 'missing' and action = 'case.read'",
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.outcome, 'failure');
    assert.equal(rows[0]?.status_code, 404);
    assert.equal(rows[0]?.organization_id, organization.organizationId);
  });

  it('records an unauthenticated attempt without an organization', async () => {
    const response = await app.inject({ method: 'GET', url: '/cases/probe-unauthenticated' });
    assert.equal(response.statusCode, 401);
    await auditLog.flush();
    const { rows } = await context.db.query<AuditEventRow>(
      "select * from audit_events where resource_id = 'probe-unauthenticated'",
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.outcome, 'failure');
    assert.equal(rows[0]?.status_code, 401);
    assert.equal(rows[0]?.organization_id, null);
    assert.equal(rows[0]?.api_key_id, null);
  });

  it('records nothing for a route without config.audit', async () => {
    await auditLog.flush();
    const count = async () =>
      (await context.db.query<{ n: number }>('select count(*)::int as n from audit_events')).rows[0]?.n;
    const before = await count();
    const response = await app.inject({
      method: 'GET',
      url: '/unaudited',
      headers: { 'cv-api-key': organization.apiKey },
    });
    assert.equal(response.statusCode, 200);
    await auditLog.flush();
    assert.equal(await count(), before);
  });

  it('never stores a body, a query string or a header value', async () => {
    await app.inject({
      method: 'POST',
      url: `/cases?email=${PHI}`,
      headers: { 'cv-api-key': organization.apiKey, 'x-patient': PHI },
      payload: { firstName: PHI, answers: [{ value: PHI }] },
    });
    await auditLog.flush();
    const { rows } = await context.db.query<{ event: string }>(
      'select row_to_json(audit_events)::text as event from audit_events',
    );
    assert.ok(rows.length > 0);
    for (const row of rows) {
      assert.ok(!row.event.includes(PHI), 'PHI in an audit event');
      assert.ok(!row.event.includes(organization.apiKey), 'an API key in an audit event');
    }
  });
});

describe('one bad request loses no other audit event', () => {
  let context: TestContext;
  before(async () => {
    context = await createTestContext();
  });
  after(async () => context.close());

  it('records a NUL in a path as U+FFFD, and the events of its batch, other organizations included', async () => {
    const one = await context.organization();
    const two = await context.organization();
    const caseId = '00000000-0000-4000-8000-00000000cafe';
    const paymentId = '00000000-0000-4000-8000-00000000beef';
    const read = (path: string, apiKey?: string) =>
      context.app.inject({ method: 'GET', url: path, headers: apiKey ? { 'cv-api-key': apiKey } : {} });
    // Sent together, so their events share the audit log's batches with the bad ones.
    const responses = await Promise.all([
      ...Array.from({ length: 20 }, (_, index) =>
        read(`/api/v1/cases/${caseId}/payments/${paymentId}`, index % 2 === 0 ? one.apiKey : two.apiKey),
      ),
      read(`/api/v1/cases/${caseId}/payments/%00`),
      ...Array.from({ length: 20 }, (_, index) =>
        read(`/api/v1/cases/${caseId}/payments/${paymentId}`, index % 2 === 0 ? two.apiKey : one.apiKey),
      ),
    ]);
    await context.services.audit.flush();
    const requestIds = responses.map((response) => String(response.headers['x-request-id']));
    const { rows } = await context.db.query<AuditEventRow>(
      'select * from audit_events where request_id = any($1::text[])',
      [requestIds],
    );
    assert.equal(rows.length, 41, `${rows.length} of 41 events written`);
    const byRequest = new Map(rows.map((row) => [row.request_id, row]));
    const nul = byRequest.get(requestIds[20]!);
    assert.equal(nul?.status_code, 401);
    assert.equal(nul?.organization_id, null);
    assert.equal(nul?.resource_id, '\uFFFD');
    const organizations = rows.map((row) => row.organization_id);
    assert.equal(organizations.filter((id) => id === one.organizationId).length, 20);
    assert.equal(organizations.filter((id) => id === two.organizationId).length, 20);
  });
  const event = (id: string, resourceId: string, statusCode = 404): AuditEvent => ({
    id,
    organizationId: null,
    apiKeyId: null,
    action: 'case.read',
    resourceType: 'case',
    resourceId,
    outcome: 'failure',
    statusCode,
    requestId: `batch-probe-${id}`,
    clientAddress: null,
    occurredAt: new Date(),
  });

  it('writes a batch the database refuses one event at a time: only the refused event is lost, and reported', async () => {
    const failures: { requestId: string; code: string | undefined }[] = [];
    const auditLog = new AuditLog(new AuditRepository(context.db), ({ requestId, code }) =>
      failures.push({ requestId, code }),
    );
    const ids = Array.from({ length: 41 }, () => randomUUID());
    // Recorded in one tick: one batch. The 21st has a status no integer column holds (SQLSTATE 22003).
    ids.forEach((id, index) => auditLog.record(event(id, `case-${index}`, index === 20 ? 2 ** 31 : 404)));
    await auditLog.flush();
    const { rows } = await context.db.query<{ id: string }>('select id from audit_events where id = any($1::uuid[])', [
      ids,
    ]);
    assert.equal(rows.length, 40);
    assert.ok(!rows.some((row) => row.id === ids[20]));
    assert.deepEqual(failures, [{ requestId: `batch-probe-${ids[20]}`, code: '22003' }]);
  });

  it('stores text as PostgreSQL can hold it: a NUL or a lone surrogate becomes U+FFFD', async () => {
    const repository = new AuditRepository(context.db);
    const ids = ['00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-0000000000a2'];
    await repository.insertMany([event(ids[0]!, 'a\0b\uD800'), event(ids[1]!, '\uDC00\uD83D\uDE00')]);
    const { rows } = await context.db.query<{ resource_id: string }>(
      'select resource_id from audit_events where id = any($1::uuid[]) order by id',
      [ids],
    );
    assert.deepEqual(
      rows.map((row) => row.resource_id),
      ['a\uFFFDb\uFFFD', '\uFFFD\uD83D\uDE00'],
      'a surrogate pair is kept',
    );
  });
});

describe('audit store failures', () => {
  let context: TestContext;
  let organization: { apiKey: string };

  before(async () => {
    context = await createTestContext();
    organization = await context.organization();
  });
  after(async () => context.close());

  for (const [name, store] of [
    ['rejects', { insertMany: async () => Promise.reject(new Error('connection terminated')) }],
    [
      'throws',
      {
        insertMany: () => {
          throw new Error('pool exhausted');
        },
      },
    ],
  ] as [string, AuditEventStore][]) {
    it(`answers as usual and logs the failure without PHI when the store ${name}`, async () => {
      const lines: string[] = [];
      const stream = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          lines.push(chunk.toString('utf8'));
          callback();
        },
      });
      const auditLog = new AuditLog(store);
      const app = await buildProbe(context, auditLog, stream);
      const response = await app.inject({
        method: 'POST',
        url: `/cases?note=${PHI}`,
        headers: { 'cv-api-key': organization.apiKey },
        payload: { firstName: PHI },
      });
      assert.equal(response.statusCode, 200);
      assert.equal(typeof response.json().requestId, 'string');
      await auditLog.flush();
      await app.close();
      const failure = lines.find((line) => line.includes('audit event could not be written'));
      assert.ok(failure, 'the failure is logged');
      const logged = JSON.parse(failure) as { audit: { action: string; requestId: string; message: string } };
      assert.equal(logged.audit.action, 'case.create');
      assert.equal(logged.audit.requestId, response.json().requestId);
      for (const line of lines) {
        assert.ok(!line.includes(PHI), 'PHI in the log');
        assert.ok(!line.includes(organization.apiKey), 'the API key in the log');
      }
    });
  }
});

describe('audit_events is append-only in the database', () => {
  let context: TestContext;
  before(async () => {
    context = await createTestContext();
    await new AuditRepository(context.db).insert({
      id: '00000000-0000-4000-8000-000000000001',
      organizationId: null,
      apiKeyId: null,
      action: 'case.read',
      resourceType: 'case',
      resourceId: 'c-1',
      outcome: 'success',
      statusCode: 200,
      requestId: 'r-1',
      clientAddress: '127.0.0.1',
      occurredAt: new Date(),
    });
  });
  after(async () => context.close());

  for (const statement of [
    "update audit_events set outcome = 'failure'",
    "update audit_events set resource_id = 'other' where id = '00000000-0000-4000-8000-000000000001'",
    'delete from audit_events',
    'truncate audit_events',
  ]) {
    it(`refuses: ${statement} (${process.env.TEST_DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, async () => {
      await assert.rejects(context.db.query(statement), (error: { code?: string; message?: string }) => {
        assert.equal(error.code, '42501');
        assert.match(error.message ?? '', /append-only/);
        return true;
      });
      const { rows } = await context.db.query<{ outcome: string; resource_id: string }>(
        'select outcome, resource_id from audit_events',
      );
      assert.deepEqual(rows, [{ outcome: 'success', resource_id: 'c-1' }]);
    });
  }

  it('refuses a change inside a transaction too, and the transaction rolls back', async () => {
    await assert.rejects(
      context.db.transaction(async (tx) => {
        await tx.query(
          "insert into audit_events (id, action, resource_type, outcome, status_code, request_id) values ('00000000-0000-4000-8000-000000000002', 'x', 'y', 'success', 200, 'r-2')",
        );
        await tx.query('delete from audit_events');
      }),
    );
    const { rows } = await context.db.query<{ n: number }>('select count(*)::int as n from audit_events');
    assert.equal(rows[0]?.n, 1);
  });
});
