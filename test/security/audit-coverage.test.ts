import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import {
  ADMIN_TOKEN,
  bodyFor,
  contextWithRouteTable,
  createOrganizationFixture,
  fillPath,
  inject,
  organizationRoutes,
  prepareRouteFor,
  ownQueryFor,
  routeName,
  type OrganizationFixture,
  type RegisteredRoute,
  type RouteTableContext,
} from './support.ts';

/**
 * The PHI audit log covers every route that creates or reads protected health information, and each
 * such route really writes its event (generated from the route table, not a hand-kept list).
 *
 * Which routes touch PHI: intake (a case with its answers), anything under a case (its payments, holds,
 * captures and releases: a payment for care names the patient's treatment), and any route naming a
 * case, patient, form response or file. Forms (questionnaires, no answers), product bundles and promo
 * codes carry no PHI; payments/setup and payments/intent create gateway intents not tied to a case.
 */
const PHI_PATH = /^\/api\/v1\/(dynamic-case|cases|patients|files|form-responses)(\/|$)/;
const PHI_PARAMS = ['caseId', 'patientId', 'formResponseId', 'fileId'];

function touchesPhi(route: RegisteredRoute): boolean {
  return PHI_PATH.test(route.url) || route.params.some((param) => PHI_PARAMS.includes(param));
}

interface AuditEventView {
  organizationId: string | null;
  apiKeyId: string | null;
  action: string;
  resourceType: string;
  resourceId: string | null;
  outcome: 'success' | 'failure';
  statusCode: number;
  requestId: string;
  clientAddress: string | null;
}

/** Where the route takes its key: the body's `key` for the legacy routes. */
const keyPlace = (route: RegisteredRoute) => ({ bodyKey: route.config.auth === 'bodyKey' });

describe('audit events for every route that creates or reads PHI', () => {
  let fake: FakeStripeServer;
  let context: RouteTableContext;
  let a: OrganizationFixture;
  let b: OrganizationFixture;

  before(async () => {
    fake = await startFakeStripe();
    context = await contextWithRouteTable(fake.environment());
    a = await createOrganizationFixture(context, 'AuditA');
    b = await createOrganizationFixture(context, 'AuditB');
  });
  after(async () => {
    await context.close();
    await fake.stop();
  });

  const audited = () => organizationRoutes(context.routes).filter((route) => route.config.audit);

  /** The event of one request, read back through the operator API. */
  async function eventOf(route: RegisteredRoute, requestId: string): Promise<AuditEventView | undefined> {
    await context.services.audit.flush();
    const response = await context.app.inject({
      method: 'GET',
      url: `/admin/v1/audit-events?${new URLSearchParams({ action: route.config.audit!.action, limit: '100' })}`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(response.statusCode, 200, response.body);
    return (response.json() as { auditEvents: AuditEventView[] }).auditEvents.find(
      (event) => event.requestId === requestId,
    );
  }

  it('declares config.audit on every organization route that touches PHI', () => {
    const phiRoutes = organizationRoutes(context.routes).filter(touchesPhi);
    assert.ok(phiRoutes.length >= 5, phiRoutes.map(routeName).join(', '));
    const missing = phiRoutes.filter((route) => !route.config.audit).map(routeName);
    assert.deepEqual(missing, [], 'add config.audit to these routes');
    for (const route of audited()) {
      const { action, resourceType } = route.config.audit!;
      assert.match(action, /^[a-z]+\.[a-z]+$/, `${routeName(route)}: action <resource>.<verb>`);
      assert.ok(resourceType.length > 0);
    }
  });

  it("writes the owner's request as a success naming the organization, key and resource", async () => {
    // Routes in table order, so a payment is captured (or released) after it was created.
    for (const route of audited()) {
      const owner = route.params.length > 0 ? await createOrganizationFixture(context, 'Owner') : a;
      const url = `${fillPath(route.url, owner.ids)}${ownQueryFor(route, owner)}`;
      await prepareRouteFor(context.app, route, owner);
      const answer = await inject(context.app, route.method, url, owner.apiKey, bodyFor(route, owner), keyPlace(route));
      assert.ok(answer.status < 300, `${routeName(route)}: ${answer.text}`);
      const event = await eventOf(route, String(answer.headers['x-request-id']));
      assert.ok(event, `${routeName(route)} wrote no audit event`);
      assert.equal(event.organizationId, owner.organizationId);
      assert.equal(event.apiKeyId, owner.apiKeyId);
      assert.equal(event.resourceType, route.config.audit!.resourceType);
      assert.equal(event.outcome, 'success');
      assert.equal(event.statusCode, answer.status);
      assert.ok(event.clientAddress);
      // The resource is named: an id from the path, the body, or the id the answer gives for a created resource.
      assert.ok(event.resourceId, `${routeName(route)}: no resource id`);
      const inBody = JSON.stringify(bodyFor(route, owner) ?? null).includes(event.resourceId);
      // The users routes answer with no id: their event names the patient they found.
      const named = url.includes(event.resourceId) || answer.text.includes(event.resourceId) || inBody;
      const byPatient = ['GET /api/v1/check-user', 'POST /api/v1/users'].includes(routeName(route));
      assert.ok(named || (byPatient && event.resourceId === owner.ids.patientId), routeName(route));
      // Identifiers only: nothing of the request or answer body.
      assert.ok(!JSON.stringify(event).includes('lbs'));
    }
  });

  it("writes another organization's attempt on A's resources as a failure of that organization", async () => {
    for (const route of audited()) {
      const answer = await inject(
        context.app,
        route.method,
        fillPath(route.url, a.ids),
        b.apiKey,
        bodyFor(route),
        keyPlace(route),
      );
      const event = await eventOf(route, String(answer.headers['x-request-id']));
      assert.ok(event, `${routeName(route)} wrote no audit event for B`);
      assert.equal(event.organizationId, b.organizationId);
      if (route.params.length > 0) {
        // The Change Case Status page answers 401 for another organization's case; the other routes, 404.
        const expected = routeName(route) === 'POST /api/v1/cases/:caseId' ? 401 : 404;
        assert.equal(answer.status, expected, `${routeName(route)}: ${answer.text}`);
        assert.equal(event.outcome, 'failure');
        assert.equal(event.statusCode, expected);
      }
    }
  });

  it('writes unauthenticated attempts too, with no organization', async () => {
    for (const route of audited()) {
      const answer = await inject(
        context.app,
        route.method,
        fillPath(route.url, a.ids),
        'c360_not_a_key',
        bodyFor(route),
        keyPlace(route),
      );
      // The Patient Add Form to Case page answers every refusal, a bad key included, with a 400.
      assert.equal(answer.status, route.config.envelope === 'caseForm' ? 400 : 401, routeName(route));
      const event = await eventOf(route, String(answer.headers['x-request-id']));
      assert.ok(event, routeName(route));
      assert.equal(event.organizationId, null);
      assert.equal(event.outcome, 'failure');
    }
  });
});
