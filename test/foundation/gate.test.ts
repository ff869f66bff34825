import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Tenant } from '../../src/http/gate.ts';
import { FormRepository } from '../../src/modules/forms/repository.ts';
import { PaymentRepository, PaymentsAcrossOrganizations } from '../../src/modules/payments/repository.ts';
import { createTestContext, type TestContext } from '../support/app.ts';

/**
 * The gate is the only source of a caller's organization: repositories of organization rows need a Tenant,
 * and a route cannot make one. The `@ts-expect-error` lines are held by `npm run typecheck`: should any of
 * them compile, the type check fails.
 */
describe('the gate', () => {
  let context: TestContext;
  before(async () => {
    context = await createTestContext();
  });
  after(() => context.close());

  it('gives repositories a Tenant that a plain object or a string cannot stand in for', () => {
    const organizationId = randomUUID();
    // Never called: it holds the lines that must not compile.
    const forged = (): unknown[] => [
      // @ts-expect-error a Tenant's constructor is private: only the gate and Tenant.forOperator make one
      new Tenant(organizationId, undefined),
      // @ts-expect-error an object with an organizationId is not a Tenant
      new FormRepository(context.db, { organizationId }),
      // @ts-expect-error nor is an organization id
      new FormRepository(context.db, organizationId),
    ];
    assert.equal(typeof forged, 'function');
    assert.equal(Tenant.forOperator(organizationId, 'a test names the organization').organizationId, organizationId);
  });

  it('scopes a repository to its Tenant', async () => {
    const first = await context.services.organizations.createOrganization('First');
    const second = await context.services.organizations.createOrganization('Second');
    const firstForms = new FormRepository(context.db, Tenant.forOperator(first.organizationId, 'test'));
    const secondForms = new FormRepository(context.db, Tenant.forOperator(second.organizationId, 'test'));
    const formId = await firstForms.upsertByTitle('Intake', undefined);
    assert.deepEqual(
      (await firstForms.list({ limit: 10 })).map((form) => form.id),
      [formId],
    );
    assert.deepEqual(await secondForms.list({ limit: 10 }), []);
    assert.equal(await secondForms.findByIdWithQuestions(formId), null);
  });

  it('keeps the payment statements by id to the Tenant; only the cross-organization repository reaches across', async () => {
    const first = await context.services.organizations.createOrganization('Payer');
    const second = await context.services.organizations.createOrganization('Other');
    const firstPayments = new PaymentRepository(context.db, Tenant.forOperator(first.organizationId, 'test'));
    const secondPayments = new PaymentRepository(context.db, Tenant.forOperator(second.organizationId, 'test'));
    const id = randomUUID();
    await firstPayments.insertIntent({
      id,
      gateway: 'stripe',
      kind: 'payment',
      amountCents: 500,
      requestKey: `intake:${id}`,
    });
    const status = async () =>
      (await context.db.query<{ status: string }>('select status from gateway_intents where id = $1', [id])).rows[0]!
        .status;
    const before = await status();

    await secondPayments.recordIntentResult(id, { gatewayIntentId: 'pi_foreign', status: 'succeeded' });
    await secondPayments.closeIntent(id, 'failed');
    assert.equal(await secondPayments.claimIntent(id, 60_000), null);
    assert.equal(await status(), before);
    assert.equal(await secondPayments.findIntent('stripe', 'pi_foreign'), null);

    await firstPayments.recordIntentResult(id, { gatewayIntentId: 'pi_own', status: 'succeeded' });
    assert.equal((await firstPayments.findIntent('stripe', 'pi_own'))?.id, id);
    assert.equal(await secondPayments.findIntent('stripe', 'pi_own'), null);
    const anyOrganization = new PaymentsAcrossOrganizations(context.db);
    assert.equal(
      (await anyOrganization.findIntentAnyOrganization('stripe', 'pi_own'))?.organization_id,
      first.organizationId,
    );
    assert.equal((await anyOrganization.claimIntent(id, 60_000))?.id, id);
  });

  it('answers each key with its own organization', async () => {
    const organization = await context.services.organizations.createOrganization('Caller');
    const forms = new FormRepository(context.db, Tenant.forOperator(organization.organizationId, 'test'));
    const formId = await forms.upsertByTitle('Mine', undefined);
    const stranger = await context.services.organizations.createOrganization('Stranger');
    const own = await context.app.inject({
      method: 'GET',
      url: `/api/v1/forms/${formId}`,
      headers: { 'cv-api-key': organization.apiKey },
    });
    assert.equal(own.statusCode, 200, own.body);
    const foreign = await context.app.inject({
      method: 'GET',
      url: `/api/v1/forms/${formId}`,
      headers: { 'cv-api-key': stranger.apiKey },
    });
    assert.equal(foreign.statusCode, 404, foreign.body);
  });
});
