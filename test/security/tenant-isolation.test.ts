import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ZodObject } from 'zod';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import {
  baseQueries,
  bodyFor,
  contextWithRouteTable,
  createOrganizationFixture,
  fillPath,
  inject,
  organizationRoutes,
  prepareRouteFor,
  ownedBodies,
  routeName,
  withoutIds,
  type Answer,
  type BodyTarget,
  type OrganizationFixture,
  type RegisteredRoute,
  type RouteTableContext,
} from './support.ts';

/**
 * Tenant isolation, generated from the registered route table: every route an organization calls
 * that names a resource (a path param, or a query field that identifies one) answers organization B
 * for organization A's resource exactly as it answers for a resource that does not exist, and no
 * answer to B ever carries A's identifiers or data.
 */

/** Query fields that name a resource, and a value naming nothing. Other fields ending in Id fail the test. */
const queryIdentifiers: Record<string, () => string> = {
  code: () => `NOSUCHCODE${randomUUID().slice(0, 6).toUpperCase()}`,
  product_bundle_id: () => randomUUID(),
  title: () => `No such form ${randomUUID()}`,
  caseId: () => randomUUID(),
  email: () => `nobody-${randomUUID().slice(0, 8)}@example.com`,
  after: () => randomUUID(),
};

function queryFields(route: RegisteredRoute): string[] {
  const querystring = route.schema?.querystring as ZodObject | undefined;
  return querystring && typeof querystring === 'object' && 'shape' in querystring ? Object.keys(querystring.shape) : [];
}

function normalized(answer: Answer): { status: number; body: string } {
  return { status: answer.status, body: withoutIds(answer.text) };
}

describe('tenant isolation over every organization route', () => {
  let fake: FakeStripeServer;
  let context: RouteTableContext;
  let a: OrganizationFixture;
  let b: OrganizationFixture;
  /** Every answer organization B received, with what B sent (an echo of B's own input is no leak). */
  const answersToB: { request: string; answer: Answer }[] = [];
  let comparisons = 0;

  const asB = async (route: RegisteredRoute, url: string): Promise<Answer> => {
    const body = bodyFor(route);
    const answer = await inject(context.app, route.method, url, b.apiKey, body, {
      bodyKey: route.config.auth === 'bodyKey',
    });
    answersToB.push({ request: `${url} ${JSON.stringify(body ?? null)}`, answer });
    assert.ok(answer.status < 500, `${routeName(route)} as B answered ${answer.status}: ${answer.text}`);
    return answer;
  };

  before(async () => {
    fake = await startFakeStripe();
    context = await contextWithRouteTable(fake.environment());
    a = await createOrganizationFixture(context, 'A');
    b = await createOrganizationFixture(context, 'B');
  });
  after(async () => {
    await context.close();
    await fake.stop();
  });

  it('knows how to create a resource for every id param of every organization route', () => {
    const routes = organizationRoutes(context.routes);
    assert.ok(routes.length >= 10, `found ${routes.length} organization routes`);
    const unknown = routes.flatMap((route) =>
      route.params.filter((param) => !(param in a.ids)).map((param) => `${routeName(route)} (:${param})`),
    );
    assert.deepEqual(unknown, [], 'teach createOrganizationFixture (test/security/support.ts) to create these');
    const unknownQuery = routes.flatMap((route) =>
      queryFields(route)
        .filter((field) => /id$/i.test(field) && !(field in queryIdentifiers))
        .map((field) => `${routeName(route)} (?${field})`),
    );
    assert.deepEqual(unknownQuery, [], 'teach queryIdentifiers (this file) about these query fields');
  });

  it("answers B for A's ids exactly as for ids that do not exist (status and body, modulo ids)", async () => {
    const routes = organizationRoutes(context.routes).filter((route) => route.params.length > 0);
    assert.ok(routes.length >= 5, `routes with id params: ${routes.map(routeName).join(', ')}`);
    for (const route of routes) {
      const random = Object.fromEntries(route.params.map((param) => [param, randomUUID()]));
      const foreign = await asB(route, fillPath(route.url, a.ids));
      const missing = await asB(route, fillPath(route.url, random));
      assert.deepEqual(normalized(foreign), normalized(missing), `${routeName(route)}: A's ids vs missing ids`);
      assert.ok(foreign.status >= 400, `${routeName(route)} served A's resource to B: ${foreign.text}`);
      comparisons += 1;
      // One foreign id among B's own: B's case with A's payment answers as B's case with no such payment.
      if (route.params.length > 1) {
        for (const param of route.params) {
          const mixedForeign = await asB(route, fillPath(route.url, { ...b.ids, [param]: a.ids[param]! }));
          const mixedMissing = await asB(route, fillPath(route.url, { ...b.ids, [param]: randomUUID() }));
          assert.deepEqual(
            normalized(mixedForeign),
            normalized(mixedMissing),
            `${routeName(route)}: B's ids with A's :${param} vs a missing :${param}`,
          );
          comparisons += 1;
        }
      }
    }
  });

  it("answers B for A's query identifiers (promo code, bundle, form title) as for unknown ones", async () => {
    for (const route of organizationRoutes(context.routes).filter((candidate) => candidate.method === 'GET')) {
      const fields = queryFields(route).filter((name) => name in queryIdentifiers);
      // The other identifying fields carry the caller's own values (a promo code needs its code).
      const url = (own: OrganizationFixture, field: string, value: string) =>
        `${route.url}?${new URLSearchParams({ ...baseQueries[routeName(route)]?.(), ...Object.fromEntries(fields.map((name) => [name, own.query[name]!])), [field]: value })}`;
      for (const field of fields) {
        const foreign = await asB(route, url(b, field, a.query[field]!));
        const missing = await asB(route, url(b, field, queryIdentifiers[field]!()));
        assert.deepEqual(normalized(foreign), normalized(missing), `${routeName(route)}?${field}: A's vs unknown`);
        comparisons += 1;
        // The owner does get something for it, so the comparison above is not vacuous.
        const own = await inject(context.app, 'GET', url(a, field, a.query[field]!), a.apiKey);
        const ownMissing = await inject(context.app, 'GET', url(a, field, queryIdentifiers[field]!()), a.apiKey);
        assert.notDeepEqual(normalized(own), normalized(ownMissing), `${routeName(route)}?${field} as the owner`);
      }
    }
  });

  it("answers a body naming another organization's resource exactly as one naming a missing resource", async () => {
    const missing: BodyTarget = {
      ids: Object.fromEntries(Object.keys(a.ids).map((param) => [param, randomUUID()])),
      email: `missing-${randomUUID().slice(0, 8)}@example.com`,
    };
    const routes = organizationRoutes(context.routes).filter((route) => ownedBodies[routeName(route)]);
    assert.ok(routes.length >= 2, `found ${routes.length} routes naming a resource in the body`);
    for (const route of routes) {
      const send = (target: BodyTarget) =>
        inject(context.app, route.method, route.url, b.apiKey, ownedBodies[routeName(route)]!(target));
      const foreign = await send(a);
      const unknown = await send(missing);
      assert.ok(foreign.status < 500, `${routeName(route)}: ${foreign.text}`);
      const scrub = (answer: Answer, target: BodyTarget) =>
        normalized({ ...answer, text: answer.text.split(target.email).join('<email>') });
      assert.deepEqual(scrub(foreign, a), scrub(unknown, missing), `${routeName(route)} naming A's resource`);
      for (const secret of a.secrets) {
        if (secret !== a.email && secret !== a.ids.caseId) {
          assert.ok(!foreign.text.includes(secret), `${routeName(route)} leaked ${secret}`);
        }
      }
      comparisons += 1;
      // The owner is served: the refusal is about the organization.
      const own = await inject(context.app, route.method, route.url, a.apiKey, ownedBodies[routeName(route)]!(a));
      assert.equal(own.status, 200, `${routeName(route)} as the owner: ${own.text}`);
    }
  });

  it('serves the same requests to the owner (the refusals above are about the organization)', async () => {
    // A fresh owner per route, since capture and cancel change the payment they act on.
    for (const route of organizationRoutes(context.routes).filter((candidate) => candidate.params.length > 0)) {
      const owner = await createOrganizationFixture(context, `Owner${comparisons}`);
      await prepareRouteFor(context.app, route, owner);
      const answer = await inject(
        context.app,
        route.method,
        fillPath(route.url, owner.ids),
        owner.apiKey,
        bodyFor(route),
        {
          bodyKey: route.config.auth === 'bodyKey',
        },
      );
      assert.ok(answer.status >= 200 && answer.status < 300, `${routeName(route)} as the owner: ${answer.text}`);
    }
  });

  it("never shows B any of A's ids or data, on any route (lists included)", async () => {
    for (const route of organizationRoutes(context.routes).filter((candidate) => candidate.params.length === 0)) {
      await asB(route, route.url);
    }
    assert.ok(answersToB.length >= comparisons * 2);
    const leaks: string[] = [];
    for (const { request, answer } of answersToB) {
      for (const secret of a.secrets) {
        if (answer.text.includes(secret) && !request.includes(secret)) leaks.push(`${request} -> ${secret}`);
      }
    }
    assert.deepEqual(leaks, []);
    // The scan can see: A's own list answers do carry A's data.
    const own = await inject(context.app, 'GET', '/api/v1/forms', a.apiKey);
    assert.ok(own.text.includes(a.ids.formId!), 'A sees its own form');
    const theirs = await inject(context.app, 'GET', '/api/v1/forms', b.apiKey);
    assert.ok(!theirs.text.includes(a.ids.formId!) && theirs.text.includes(b.ids.formId!));
    console.log(
      `tenant isolation: ${comparisons} foreign-vs-missing comparisons, ${answersToB.length} answers to B scanned for ${a.secrets.length} of A's values`,
    );
  });
});
