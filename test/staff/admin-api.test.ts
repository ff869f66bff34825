import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ADMIN_API_REFUSAL, hashStaffToken, SECOND_FACTOR_REQUIRED } from '../../src/http/gate.ts';
import { ADMIN_TOKEN } from '../support/app.ts';
import {
  contextWithRouteTable,
  fillPath,
  routeName,
  type RegisteredRoute,
  type RouteTableContext,
} from '../security/support.ts';
import { createStaff, intakeCase, signIn, type SignedIn } from './support.ts';

/**
 * The admin API and staff sessions, over every admin route of the route table: the ADMIN_TOKEN and a staff ADMIN
 * of every organization pass the gate; SUPPORT, PROVIDER, an ADMIN of some organizations, a disabled member, an
 * expired, revoked or unknown session, and a cookie write without its CSRF token are refused and change nothing.
 */
describe('the admin API with staff sessions', () => {
  let context: RouteTableContext;
  let organizationId: string;
  let caseId: string;
  const emails = new Map<string, string>();

  const adminRoutes = () => context.routes.filter((route) => route.url.startsWith('/admin/v1/'));

  /** Every path param a random id: a route that passes the gate finds nothing to change. */
  const urlOf = (route: RegisteredRoute) =>
    fillPath(route.url, Object.fromEntries(route.params.map((param) => [param, randomUUID()])));

  const call = (route: RegisteredRoute, headers: Record<string, string>) =>
    context.app.inject({
      method: route.method as 'GET',
      url: urlOf(route),
      headers,
      ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { payload: {} }),
    });

  /** What the refused calls must leave as it was: organizations, keys, staff, promo codes, endpoints. */
  const snapshot = async () => {
    const counts = await Promise.all(
      ['organizations', 'api_keys', 'staff_members', 'promo_codes', 'webhook_endpoints'].map(
        async (table) => (await context.db.query<{ n: string }>(`select count(*)::text as n from ${table}`)).rows[0]!.n,
      ),
    );
    return counts.join(',');
  };

  before(async () => {
    context = await contextWithRouteTable();
    const organization = await context.organization('Admin API A');
    organizationId = organization.organizationId;
    caseId = await intakeCase(context.app, organization.apiKey, {
      email: `admin-api-${randomUUID()}@example.com`,
      state: 'DC',
    });
    for (const [label, role, extra] of [
      ['ADMIN all', 'ADMIN', {}],
      ['ADMIN some', 'ADMIN', { organizationIds: [organizationId] }],
      ['SUPPORT all', 'SUPPORT', {}],
      ['PROVIDER all', 'PROVIDER', { licensedStates: ['DC'] }],
      ['disabled ADMIN', 'ADMIN', {}],
      ['expired ADMIN', 'ADMIN', {}],
      ['revoked ADMIN', 'ADMIN', {}],
    ] as const) {
      const { email } = await createStaff(context.app, role, extra);
      emails.set(label, email);
    }
  });
  after(() => context.close());

  const signedIn = (label: string): Promise<SignedIn> => signIn(context.app, emails.get(label)!);

  it('sets the session cookie for the staff and the admin API only', async () => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/staff/v1/auth/login',
      payload: { email: emails.get('ADMIN all'), password: 'correct horse battery staple' },
    });
    assert.equal(response.statusCode, 200, response.body);
    const cookies = [response.headers['set-cookie']].flat().map(String);
    assert.deepEqual(
      cookies.map((cookie) => /Path=([^;]+)/.exec(cookie)?.[1]),
      ['/staff', '/admin'],
    );
    for (const cookie of cookies) assert.match(cookie, /HttpOnly; Secure; SameSite=Strict/);
  });

  it('lets the ADMIN_TOKEN and a staff ADMIN of every organization through on every admin route', async () => {
    const admin = await signedIn('ADMIN all');
    const routes = adminRoutes();
    assert.ok(routes.length >= 20, routes.map(routeName).join(', '));
    for (const route of routes) {
      for (const [who, headers] of [
        ['admin token', { authorization: `Bearer ${ADMIN_TOKEN}` }],
        ['ADMIN bearer', { authorization: `Bearer ${admin.accessToken}` }],
        ['ADMIN cookie', { cookie: admin.cookie.replace(/;.*/, ''), 'x-csrf-token': admin.csrfToken }],
      ] as const) {
        const response = await call(route, headers);
        const label = `${who} ${routeName(route)}: ${response.statusCode} ${response.body.slice(0, 200)}`;
        assert.ok(response.statusCode < 500, label);
        assert.notEqual(response.statusCode, 401, label);
        assert.notEqual(response.statusCode, 403, label);
      }
    }
  });

  it('refuses SUPPORT, PROVIDER and an ADMIN of some organizations with 403, changing nothing', async () => {
    for (const label of ['SUPPORT all', 'PROVIDER all', 'ADMIN some']) {
      const member = await signedIn(label);
      for (const route of adminRoutes()) {
        for (const headers of [
          { authorization: `Bearer ${member.accessToken}` },
          { cookie: member.cookie, 'x-csrf-token': member.csrfToken },
        ] as Record<string, string>[]) {
          const before = await snapshot();
          const response = await call(route, headers);
          assert.equal(response.statusCode, 403, `${label} ${routeName(route)}: ${response.body}`);
          assert.equal(response.json().error, ADMIN_API_REFUSAL);
          assert.equal(await snapshot(), before);
        }
      }
    }
  });

  it('answers 401 to a disabled member, an expired, revoked or unknown session, changing nothing', async () => {
    const disabled = await signedIn('disabled ADMIN');
    const expired = await signedIn('expired ADMIN');
    const revoked = await signedIn('revoked ADMIN');
    await context.db.query(`update staff_sessions set expires_at = now() - interval '1 second' where token_hash = $1`, [
      hashStaffToken(expired.accessToken),
    ]);
    const logout = await context.app.inject({
      method: 'POST',
      url: '/staff/v1/auth/logout',
      headers: { authorization: `Bearer ${revoked.accessToken}` },
    });
    assert.equal(logout.statusCode, 200);
    const off = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/staff/${disabled.staffId}/disable`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(off.statusCode, 200);
    const callers: [string, Record<string, string>][] = [
      ['no credential', {}],
      ['unknown session', { authorization: `Bearer c360s_${randomUUID()}` }],
      ['unknown cookie', { cookie: `care360_staff=c360s_${randomUUID()}` }],
      ['disabled member', { authorization: `Bearer ${disabled.accessToken}` }],
      ['disabled member cookie', { cookie: disabled.cookie, 'x-csrf-token': disabled.csrfToken }],
      ['expired session', { authorization: `Bearer ${expired.accessToken}` }],
      ['revoked session', { authorization: `Bearer ${revoked.accessToken}` }],
      ['revoked session cookie', { cookie: revoked.cookie, 'x-csrf-token': revoked.csrfToken }],
    ];
    for (const route of adminRoutes()) {
      for (const [who, headers] of callers) {
        const before = await snapshot();
        const response = await call(route, headers);
        assert.equal(response.statusCode, 401, `${who} ${routeName(route)}: ${response.body}`);
        assert.equal(await snapshot(), before);
      }
    }
  });

  it("refuses a staff ADMIN's cookie write without the session's CSRF token", async () => {
    const admin = await signedIn('ADMIN all');
    const writes = adminRoutes().filter((route) => route.method !== 'GET');
    assert.ok(writes.length >= 10);
    for (const route of writes) {
      const forged: Record<string, string>[] = [
        { cookie: admin.cookie },
        { cookie: admin.cookie, 'x-csrf-token': 'forged' },
      ];
      for (const headers of forged) {
        const before = await snapshot();
        const response = await call(route, headers);
        assert.equal(response.statusCode, 403, `${routeName(route)}: ${response.body}`);
        assert.match(response.json().error, /x-csrf-token/);
        assert.equal(await snapshot(), before);
      }
    }
  });

  it('records the staff ADMIN as the actor in the audit log', async () => {
    const admin = await signedIn('ADMIN all');
    const headers = { cookie: admin.cookie, 'x-csrf-token': admin.csrfToken };
    const created = await context.app.inject({
      method: 'POST',
      url: '/admin/v1/organizations',
      headers,
      payload: { name: 'Made in the console' },
    });
    assert.equal(created.statusCode, 201, created.body);
    const caseList = await context.app.inject({
      url: `/admin/v1/organizations/${organizationId}/cases`,
      headers,
    });
    assert.equal(caseList.statusCode, 200, caseList.body);
    assert.ok(caseList.body.includes(caseId), 'the list carries the case');
    await context.services.audit.flush();
    const audit = await context.app.inject({
      url: `/admin/v1/audit-events?staffId=${admin.staffId}&action=case.read`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(audit.statusCode, 200, audit.body);
    const events = audit.json().auditEvents as { staffId: string; resourceId: string; organizationId: string }[];
    assert.ok(events.length >= 1);
    for (const event of events) {
      assert.equal(event.staffId, admin.staffId);
      assert.equal(event.organizationId, organizationId);
    }
    assert.deepEqual(
      events.map((event) => event.resourceId),
      [caseId],
    );
  });

  it('refuses a staff ADMIN without the second factor an organization requires, until it is on', async () => {
    const admin = await signedIn('ADMIN all');
    const required = (value: boolean) =>
      context.app.inject({
        method: 'PUT',
        url: `/staff/v1/organizations/${organizationId}/totp-required`,
        headers: { authorization: `Bearer ${admin.accessToken}` },
        payload: { required: value },
      });
    assert.equal((await required(true)).statusCode, 200);
    try {
      const refused = await context.app.inject({
        url: '/admin/v1/organizations',
        headers: { authorization: `Bearer ${admin.accessToken}` },
      });
      assert.equal(refused.statusCode, 403, refused.body);
      assert.equal(refused.json().error, SECOND_FACTOR_REQUIRED);
      const token = await context.app.inject({
        url: '/admin/v1/organizations',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      assert.equal(token.statusCode, 200, 'the admin token needs no second factor');
    } finally {
      await context.db.query('update organizations set staff_totp_required = false where id = $1', [organizationId]);
    }
  });
});
