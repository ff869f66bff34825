import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import type { IntakePaymentProcessor } from '../../src/modules/cases/intake/payments.ts';
import { newShortId } from '../../src/modules/cases/lifecycle/short-id.ts';
import { CaseRepository } from '../../src/modules/cases/repository.ts';
import { createServices } from '../../src/services.ts';
import { recordingDatabase } from '../../bench/lib/sql-recorder.ts';
import { appWithPaymentProcessor, count, formTitleExample, intakeTestContext, type TestContext } from './support.ts';
import { Tenant } from '../../src/http/gate.ts';

// The intake reads a key it saw active moments ago from memory, and its own statement checks that the key
// is still active (auth.ts keyConfirmedByWrite): a revocation still takes effect at the next request.
describe('intake: the API key checked by the write', () => {
  let context: TestContext;
  let organizationId: string;
  let apiKey: string;
  let apiKeyId: string;
  let sequence = 0;

  const body = (extra: Record<string, unknown> = {}) => ({
    ...formTitleExample(),
    email: `patient-${++sequence}@example.com`,
    idempotencyKey: `key-check-${sequence}`,
    ...extra,
  });
  const intake = (payload: object, key = apiKey, app = context.app) =>
    app.inject({ method: 'POST', url: '/api/v1/dynamic-case', headers: { 'cv-api-key': key }, payload });
  /** What an intake could have written for the organization. */
  const written = async () => ({
    patients: await count(context, 'patients', organizationId),
    cases: await count(context, 'cases', organizationId),
    forms: await count(context, 'forms', organizationId),
    answers: await count(context, 'answers', organizationId),
  });
  /** Revoked as another server process would: in the database, behind this process's back. */
  const revokeElsewhere = (id: string) =>
    context.db.query('update api_keys set revoked_at = now() where id = $1', [id]);

  before(async () => {
    context = await intakeTestContext();
  });
  after(() => context.close());
  beforeEach(async () => {
    ({ organizationId, apiKey, apiKeyId } = await context.organization());
    // The form exists and the key has been seen: the next intake takes both from memory.
    assert.equal((await intake(body())).statusCode, 200);
  });

  it('answers 401 and writes nothing once the key is revoked by another process', async () => {
    const before = await written();
    await revokeElsewhere(apiKeyId);
    const refused = await intake(body());
    assert.equal(refused.statusCode, 401);
    assert.deepEqual(refused.json(), { status: 401, error: 'Invalid request' });
    assert.deepEqual(await written(), before);
    // Forgotten: the next request reads the key again, and is refused the ordinary way.
    assert.equal((await intake(body())).statusCode, 401);
  });

  it('answers 401 once the key is revoked through this process', async () => {
    await context.services.organizations.revokeApiKey(organizationId, apiKeyId);
    const before = await written();
    assert.equal((await intake(body())).statusCode, 401);
    assert.deepEqual(await written(), before);
  });

  it('writes nothing of a new form defined with a revoked key (the transaction rolls back)', async () => {
    const before = await written();
    await revokeElsewhere(apiKeyId);
    const refused = await intake(body({ formTitle: 'A form this key never wrote' }));
    assert.equal(refused.statusCode, 401);
    assert.deepEqual(await written(), before);
  });

  it('confirms the key before answering an error: a revoked key gets 401, not the request’s validation error', async () => {
    const invalid = body({ questions: [{ question: 'What is your current weight?', type: 'TEXT', required: true }] });
    const stillActive = await intake(invalid);
    assert.equal(stillActive.statusCode, 400, stillActive.body);
    await revokeElsewhere(apiKeyId);
    const refused = await intake(invalid);
    assert.equal(refused.statusCode, 401);
    assert.deepEqual(refused.json(), { status: 401, error: 'Invalid request' });
  });

  it('confirms the key before any payment call', async () => {
    let prepared = 0;
    const counting: IntakePaymentProcessor = {
      prepare: async () => {
        prepared += 1;
        return undefined;
      },
      record: async () => ({}),
    };
    const app: FastifyInstance = await appWithPaymentProcessor(context, counting);
    try {
      const paid = (extra: Record<string, unknown> = {}) => body({ paymentAmount: 100, ...extra });
      assert.equal((await intake(paid(), apiKey, app)).statusCode, 200);
      assert.equal((await intake(paid(), apiKey, app)).statusCode, 200);
      assert.equal(prepared, 2);
      await revokeElsewhere(apiKeyId);
      const before = await written();
      assert.equal((await intake(paid(), apiKey, app)).statusCode, 401);
      assert.equal(prepared, 2, 'no payment call for a revoked key');
      assert.deepEqual(await written(), before);
    } finally {
      await app.close();
    }
  });

  it("checks the key against the intake's organization: another organization's key writes nothing", async () => {
    const other = await context.organization();
    const { rows } = await context.db.query<{ id: string }>('select id from forms where organization_id = $1', [
      organizationId,
    ]);
    const intakeRow = {
      newPatientId: randomUUID(),
      patient: { email: 'cross@example.com', firstName: 'A', lastName: 'B' },
      caseId: randomUUID(),
      shortId: newShortId(),
      apiKeyId,
      status: 'OPEN' as const,
      payment: { promoCodes: [] },
      formResponseId: randomUUID(),
      formId: rows[0]!.id,
      answers: [],
    };
    const before = await written();
    const cases = new CaseRepository(context.db, Tenant.forOperator(organizationId, 'test'));
    const foreign = await cases.insertIntake({ ...intakeRow, confirmApiKeyId: other.apiKeyId });
    assert.deepEqual(foreign, { keyRevoked: true });
    assert.deepEqual(await written(), before);
    const own = await cases.insertIntake({ ...intakeRow, confirmApiKeyId: apiKeyId });
    assert.ok(own && 'patientId' in own);
    assert.equal((await written()).cases, before.cases + 1);
  });

  it('sends one statement for an intake with a remembered key and a known form', async () => {
    const recorder = recordingDatabase(context.db);
    const services = createServices(recorder.db, context.config);
    const app = await buildApp({ config: context.config, db: recorder.db, services, logger: false });
    await app.ready();
    try {
      // The first reads the key and the form (and records the key's use); the second has both in memory.
      assert.equal((await intake(body(), apiKey, app)).statusCode, 200);
      await services.audit.flush();
      recorder.statements.length = 0;
      assert.equal((await intake(body(), apiKey, app)).statusCode, 200);
      await services.audit.flush();
      const sent = recorder.statements.map((statement) => statement.text.trim().split(/\s+/).slice(0, 3).join(' '));
      assert.equal(sent.length, 2, sent.join('\n'));
      assert.match(sent[0]!, /^with key_check as/);
      assert.match(sent[1]!, /^insert into audit_events/);
      // With the key revoked, the same statement writes nothing and the error confirms the key once more.
      await revokeElsewhere(apiKeyId);
      recorder.statements.length = 0;
      assert.equal((await intake(body(), apiKey, app)).statusCode, 401);
      assert.match(recorder.statements[0]!.text.trim(), /^with key_check as/);
      assert.match(recorder.statements[1]!.text, /from api_keys where id = \$1/);
    } finally {
      await app.close();
    }
  });
});
