import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { AuthFailureLimiter, hashStaffToken, registerAuthentication } from '../../src/http/gate.ts';
import { roleMay, STAFF_PERMISSIONS, STAFF_ROLES, type StaffRole } from '../../src/modules/staff/roles.ts';
import { minimalBody, postIntake } from '../cases/support.ts';
import { ADMIN_TOKEN } from '../support/app.ts';
import {
  contextWithRouteTable,
  fillPath,
  routeName,
  withoutIds,
  type RegisteredRoute,
  type RouteTableContext,
} from '../security/support.ts';
import { createStaff, signIn, type SignedIn } from './support.ts';

/**
 * The role matrix, generated from the registered route table: every staff route against every role, an
 * unauthenticated caller, a staff member of another organization, a disabled member, an expired and a revoked
 * session, and a cookie without its CSRF token. A staff route must declare its permission.
 */

/** The staff routes that take no session, and why. */
const PUBLIC_STAFF_ROUTES: Record<string, string> = {
  'POST /staff/v1/auth/login': 'signs in: the credentials are the request',
  'POST /staff/v1/auth/set-password': 'the one-time token is the credential',
};

const GATE_REFUSAL = 'Your role may not do this';

describe('the staff role matrix over every staff route', () => {
  let context: RouteTableContext;
  let orgA: { organizationId: string; apiKey: string };
  let orgB: { organizationId: string; apiKey: string };
  let caseId: string;
  const emails = new Map<string, string>();

  const staffRoutes = () =>
    context.routes.filter((route) => route.url.startsWith('/staff/') && !(routeName(route) in PUBLIC_STAFF_ROUTES));

  before(async () => {
    context = await contextWithRouteTable();
    orgA = await context.organization('Matrix A');
    orgB = await context.organization('Matrix B');
    const created = await postIntake(
      context,
      orgA.apiKey,
      minimalBody({
        shippingAddress: { addressLine1: '1 Main', city: 'X', state: 'DC', country: 'US', postalCode: '20500' },
      }),
    );
    caseId = created.body.data!.caseId!;
    for (const role of STAFF_ROLES) {
      for (const [org, organizationId] of [
        ['A', orgA.organizationId],
        ['B', orgB.organizationId],
      ] as const) {
        const extra = role === 'PROVIDER' ? { licensedStates: ['DC'] } : {};
        const { email } = await createStaff(context.app, role, { organizationIds: [organizationId], ...extra });
        emails.set(`${role} ${org}`, email);
      }
    }
  });
  after(() => context.close());

  const bodyFor = (route: RegisteredRoute, member: { staffId: string }): Record<string, unknown> | undefined => {
    if (route.method === 'GET') return undefined;
    if (route.url.endsWith('/assign')) return { assigneeId: member.staffId };
    if (route.url.endsWith('/decisions')) return { isApproved: true };
    if (route.url.endsWith('/archive')) return { archiveReason: 'COMPLETE' };
    if (route.url.endsWith('/comments')) return { text: 'Matrix note', isRestricted: true };
    if (route.url.endsWith('/totp-required')) return { required: false };
    if (route.url.endsWith('/totp/enable')) return { secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', code: 'abcdef' };
    return {};
  };

  const call = (
    route: RegisteredRoute,
    headers: Record<string, string>,
    member: { staffId: string },
    ids: Record<string, string> = { caseId },
  ) =>
    context.app.inject({
      method: route.method as 'GET',
      // A comment, decision or payment id that does not exist: the gate answers before the service looks it up.
      url: fillPath(route.url, {
        commentId: randomUUID(),
        decisionId: randomUUID(),
        paymentId: randomUUID(),
        fileId: randomUUID(),
        organizationId: orgA.organizationId,
        ...ids,
      }),
      headers,
      ...(route.method === 'GET' ? {} : { payload: bodyFor(route, member) ?? {} }),
    });

  const version = async () =>
    (await context.db.query<{ version: number }>('select version from cases where id = $1', [caseId])).rows[0]!.version;

  it('every staff route declares a permission (or is a listed public route)', () => {
    const routes = context.routes.filter((route) => route.url.startsWith('/staff/'));
    assert.ok(routes.length >= 8, routes.map(routeName).join(', '));
    for (const route of routes) {
      if (routeName(route) in PUBLIC_STAFF_ROUTES) {
        assert.equal(route.config.auth, undefined, routeName(route));
        continue;
      }
      assert.equal(route.config.auth, 'staff', `${routeName(route)}: auth 'staff'`);
      assert.ok(
        (STAFF_PERMISSIONS as readonly string[]).includes(route.config.staffPermission ?? ''),
        `${routeName(route)}: declare config.staffPermission`,
      );
    }
  });

  it('refuses to register a staff route without a declared permission', async () => {
    const app = Fastify();
    registerAuthentication(app, {
      organizations: { authenticateHash: async () => null, touchApiKey: () => {}, isActiveKey: async () => false },
      limiter: new AuthFailureLimiter(10, 1000),
      adminToken: undefined,
    });
    assert.throws(
      () => app.get('/staff/v1/undeclared', { config: { auth: 'staff' } }, async () => ({})),
      /declares no staffPermission/,
    );
    await app.close();
  });

  it('serves each role exactly the routes its permissions allow; a refusal changes nothing', async () => {
    let checked = 0;
    for (const route of staffRoutes()) {
      for (const role of STAFF_ROLES) {
        const member = await signIn(context.app, emails.get(`${role} A`)!);
        const before = await version();
        const response = await call(route, { authorization: `Bearer ${member.accessToken}` }, member);
        const allowed = roleMay(role as StaffRole, route.config.staffPermission!);
        const label = `${role} ${routeName(route)}: ${response.statusCode} ${response.body}`;
        assert.ok(response.statusCode < 500, label);
        if (allowed) {
          assert.notEqual(response.statusCode, 401, label);
          assert.ok(!response.body.includes(GATE_REFUSAL), label);
        } else {
          assert.equal(response.statusCode, 403, label);
          assert.equal(response.json().error, GATE_REFUSAL, label);
          assert.equal(await version(), before, `${label}: the case changed`);
        }
        checked += 1;
      }
    }
    assert.ok(checked >= 24);
  });

  it('answers 401 to no session, an unknown token, a disabled member, an expired and a revoked session', async () => {
    const disabled = await signIn(context.app, emails.get('SUPPORT A')!);
    const expired = await signIn(context.app, emails.get('ADMIN A')!);
    const revoked = await signIn(context.app, emails.get('PROVIDER A')!);
    await context.db.query(`update staff_sessions set expires_at = now() - interval '1 second' where token_hash = $1`, [
      hashStaffToken(expired.accessToken),
    ]);
    const logout = await context.app.inject({
      method: 'POST',
      url: '/staff/v1/auth/logout',
      headers: { authorization: `Bearer ${revoked.accessToken}` },
    });
    assert.equal(logout.statusCode, 200);
    const { staffId } = disabled;
    const off = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/staff/${staffId}/disable`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(off.statusCode, 200);
    const callers: [string, Record<string, string>][] = [
      ['no session', {}],
      ['unknown token', { authorization: `Bearer c360s_${randomUUID()}` }],
      ['unknown cookie', { cookie: `care360_staff=c360s_${randomUUID()}` }],
      ['disabled member', { authorization: `Bearer ${disabled.accessToken}` }],
      ['expired session', { authorization: `Bearer ${expired.accessToken}` }],
      ['revoked session', { authorization: `Bearer ${revoked.accessToken}` }],
      ['revoked session cookie', { cookie: revoked.cookie }],
    ];
    for (const route of staffRoutes()) {
      for (const [who, headers] of callers) {
        const before = await version();
        const response = await call(route, headers, disabled);
        assert.equal(response.statusCode, 401, `${who} ${routeName(route)}: ${response.body}`);
        assert.deepEqual(response.json(), { status: 401, success: false, error: 'Unauthorized' });
        assert.equal(await version(), before);
      }
    }
  });

  it('a cookie-authenticated write without its CSRF token is refused', async () => {
    for (const route of staffRoutes().filter((candidate) => candidate.method !== 'GET')) {
      const member = await signIn(context.app, emails.get('ADMIN A')!);
      const response = await call(route, { cookie: member.cookie }, member);
      assert.equal(response.statusCode, 403, `${routeName(route)}: ${response.body}`);
    }
  });

  it("answers another organization's staff for A's case exactly as for a case that does not exist", async () => {
    const routes = staffRoutes().filter((route) => route.params.includes('caseId'));
    assert.ok(routes.length >= 4);
    for (const route of routes) {
      const role = route.config.staffPermission === 'cases.decide' ? 'PROVIDER' : 'SUPPORT';
      const member: SignedIn = await signIn(context.app, emails.get(`${role} B`)!);
      const headers = { authorization: `Bearer ${member.accessToken}` };
      const before = await version();
      const foreign = await call(route, headers, member);
      const missing = await call(route, headers, member, { caseId: randomUUID() });
      assert.equal(foreign.statusCode, 404, `${routeName(route)}: ${foreign.body}`);
      assert.equal(withoutIds(foreign.body), withoutIds(missing.body), routeName(route));
      assert.equal(await version(), before);
    }
  });
});
