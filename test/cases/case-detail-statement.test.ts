import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { Tenant } from '../../src/http/gate.ts';
import { CaseReadRepository } from '../../src/modules/cases/lifecycle/read-repository.ts';
import { createServices, type Services } from '../../src/services.ts';
import { recordingDatabase } from '../../bench/lib/sql-recorder.ts';
import { intakeTestContext, minimalBody, postIntake, type TestContext } from './support.ts';

interface AuditRow {
  resource_id: string | null;
  api_key_id: string | null;
  outcome: string;
  status_code: number;
  request_id: string;
}

// The case detail reads a key it saw active moments ago from memory; its one statement checks the key, reads
// the case and writes the read's audit event, and writes nothing when the key is revoked or the case not found.
describe('customer-case-detail: key check, read and audit event in one statement', () => {
  let context: TestContext;
  let recorder: ReturnType<typeof recordingDatabase>;
  let services: Services;
  let app: FastifyInstance;
  let organizationId: string;
  let apiKey: string;
  let apiKeyId: string;
  let caseId: string;
  let otherCaseId: string;
  let sequence = 0;

  const detail = (query: string) =>
    app.inject({ method: 'GET', url: `/api/v1/customer-case-detail?${query}`, headers: { 'cv-api-key': apiKey } });
  /** The statements of one request, and of the audit writes it left behind, by their first words. */
  const statementsOf = async (send: () => Promise<{ statusCode: number }>, status: number) => {
    await services.audit.flush();
    recorder.statements.length = 0;
    const response = await send();
    assert.equal(response.statusCode, status);
    await services.audit.flush();
    return recorder.statements.map((statement) => statement.text.trim().split(/\s+/).slice(0, 3).join(' '));
  };
  const readEvents = async (): Promise<AuditRow[]> => {
    await services.audit.flush();
    const { rows } = await context.db.query<AuditRow>(
      `select resource_id, api_key_id, outcome, status_code, request_id from audit_events
        where organization_id = $1 and action = 'case.read' order by occurred_at, id`,
      [organizationId],
    );
    return rows;
  };
  /** Revoked as another server process would: in the database, behind this process's back. */
  const revokeElsewhere = () => context.db.query('update api_keys set revoked_at = now() where id = $1', [apiKeyId]);

  before(async () => {
    context = await intakeTestContext();
    recorder = recordingDatabase(context.db);
    services = createServices(recorder.db, context.config);
    app = await buildApp({ config: context.config, db: recorder.db, services, logger: false });
    await app.ready();
    const other = await context.organization();
    const foreign = await postIntake(context, other.apiKey, minimalBody({ email: 'foreign@example.com' }));
    otherCaseId = foreign.body.data!.caseId!;
  });
  after(async () => {
    await app.close();
    await context.close();
  });
  beforeEach(async () => {
    ({ organizationId, apiKey, apiKeyId } = await context.organization());
    const email = `detail-${++sequence}@example.com`;
    const intake = await postIntake(context, apiKey, minimalBody({ email, formTitle: `Detail ${sequence}` }));
    assert.equal(intake.status, 200);
    caseId = intake.body.data!.caseId!;
    // The key has been seen: the next read takes it from memory.
    assert.equal((await detail(`caseId=${caseId}`)).statusCode, 200);
  });

  it('sends one statement for a read by id or by email, and writes its audit event in it', async () => {
    const byId = await statementsOf(() => detail(`caseId=${caseId}`), 200);
    assert.deepEqual(byId, ['with key_check as']);
    const byEmail = await statementsOf(() => detail(`email=detail-${sequence}%40example.com`), 200);
    assert.deepEqual(byEmail, ['with key_check as']);
    const events = await readEvents();
    assert.equal(events.length, 3);
    for (const event of events) {
      assert.deepEqual(
        { ...event, request_id: '' },
        {
          resource_id: caseId,
          api_key_id: apiKeyId,
          outcome: 'success',
          status_code: 200,
          request_id: '',
        },
      );
    }
    assert.equal(new Set(events.map((event) => event.request_id)).size, 3, 'one event per request');
  });

  it('reads nothing and writes no read event once the key is revoked by another process', async () => {
    const before = await readEvents();
    await revokeElsewhere();
    const refused = await detail(`caseId=${caseId}`);
    assert.equal(refused.statusCode, 401);
    assert.deepEqual(refused.json(), { status: 401, success: false, error: 'Invalid API key' });
    const events = await readEvents();
    assert.deepEqual(events.slice(0, before.length), before);
    // The refusal is recorded as what it is: a failure, no read.
    assert.deepEqual(
      events.slice(before.length).map((event) => [event.outcome, event.status_code]),
      [['failure', 401]],
    );
    // By email too.
    assert.equal((await detail(`email=detail-${sequence}%40example.com`)).statusCode, 401);
    assert.equal((await readEvents()).filter((event) => event.outcome === 'success').length, before.length);
  });

  it("reads nothing of another organization's case and records only the failed attempt", async () => {
    const before = await readEvents();
    const statements = await statementsOf(() => detail(`caseId=${otherCaseId}`), 404);
    // The read found nothing, so the key is confirmed (it is active) before the 404; then the failure's event.
    assert.equal(statements.length, 3, statements.join('\n'));
    assert.equal(statements[0], 'with key_check as');
    assert.match(statements[1]!, /^select \(\$1::uuid is/);
    assert.equal(statements[2], 'insert into audit_events');
    const refused = await detail(`caseId=${otherCaseId}`);
    assert.deepEqual(refused.json(), { status: 404, success: false, error: 'Case not found' });
    assert.ok(!refused.body.includes('foreign@example.com'));
    const added = (await readEvents()).slice(before.length);
    assert.deepEqual(
      added.map((event) => [event.outcome, event.status_code]),
      [
        ['failure', 404],
        ['failure', 404],
      ],
    );
    const { rows } = await context.db.query(
      'select 1 from audit_events where organization_id = $1 and resource_id = $2',
      [organizationId, otherCaseId],
    );
    assert.equal(rows.length, 0, "no event names the other organization's case");
  });

  it("writes no event and reads nothing with another organization's key (the repository's check)", async () => {
    const other = await context.organization();
    const repository = new CaseReadRepository(context.db, Tenant.forOperator(organizationId, 'test'));
    const include = { files: false, internalNotes: false };
    const event = {
      id: randomUUID(),
      organizationId,
      apiKeyId: other.apiKeyId,
      action: 'case.read',
      resourceType: 'case',
      outcome: 'success' as const,
      statusCode: 200,
      requestId: `test-${randomUUID()}`,
      clientAddress: '127.0.0.1',
      occurredAt: new Date(),
    };
    const before = await readEvents();
    assert.equal(await repository.readCase({ caseId }, include, { confirmApiKeyId: other.apiKeyId, event }), null);
    assert.deepEqual(await readEvents(), before);
    const own = await repository.readCase({ caseId }, include, { confirmApiKeyId: apiKeyId, event });
    assert.equal(own?.id, caseId);
    const after = await readEvents();
    assert.equal(after.length, before.length + 1);
    assert.equal(after.at(-1)!.request_id, event.requestId);
  });
});
