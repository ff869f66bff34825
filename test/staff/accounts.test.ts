import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generate } from 'otplib';
import { StaffService } from '../../src/modules/staff/service.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';
import { bearer, createStaff, PASSWORD, signIn, staffMember } from './support.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('staff accounts and sign-in', () => {
  let context: TestContext;
  before(async () => {
    context = await createTestContext({ RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_PER_ADDRESS: '0' });
  });
  after(() => context.close());

  const post = (url: string, payload: unknown, headers: Record<string, string> = admin) =>
    context.app.inject({ method: 'POST', url, headers, payload: payload as Record<string, unknown> });

  it('creates a provider for listed organizations, never showing the password hash', async () => {
    const { organizationId } = await context.organization();
    const response = await post('/admin/v1/staff', {
      email: 'Dr.Who@Clinic.example',
      firstName: 'Ada',
      lastName: 'Lovelace',
      role: 'PROVIDER',
      organizationIds: [organizationId],
      password: PASSWORD,
      title: 'MD',
      npi: '1234567890',
      dea: 'AB1234567',
      licensedStates: ['dc', 'NY'],
    });
    assert.equal(response.statusCode, 201, response.body);
    const body = response.json();
    assert.equal(body.email, 'dr.who@clinic.example');
    assert.deepEqual(body.organizationIds, [organizationId]);
    assert.deepEqual(body.licensedStates, ['DC', 'NY']);
    assert.equal(body.setPassword, null);
    assert.equal(body.hasPassword, true);
    assert.ok(!response.body.includes('scrypt'));
    const { rows } = await context.db.query<{ password_hash: string }>(
      'select password_hash from staff_members where id = $1',
      [body.staffId],
    );
    assert.match(rows[0]!.password_hash, /^scrypt\$/);
    assert.ok(!rows[0]!.password_hash.includes(PASSWORD));
  });

  it('refuses bad input with a 400 and writes nothing', async () => {
    const before = await context.db.query<{ count: number }>('select count(*)::int as count from staff_members');
    const cases: Record<string, unknown>[] = [
      { email: 'x@clinic.example', firstName: 'A', lastName: 'B', role: 'DOCTOR' },
      { email: 'not-an-email', firstName: 'A', lastName: 'B', role: 'SUPPORT' },
      { email: 'y@clinic.example', firstName: 'A', lastName: 'B', role: 'SUPPORT', npi: '1234567890' },
      { email: 'z@clinic.example', firstName: 'A', lastName: 'B', role: 'SUPPORT', organizationIds: [] },
      {
        email: 'w@clinic.example',
        firstName: 'A',
        lastName: 'B',
        role: 'SUPPORT',
        organizationIds: ['00000000-0000-4000-8000-000000000000'],
      },
      { email: 'v@clinic.example', firstName: 'A', lastName: 'B', role: 'SUPPORT', password: 'short' },
    ];
    for (const payload of cases) {
      const response = await post('/admin/v1/staff', payload);
      assert.equal(response.statusCode, 400, `${JSON.stringify(payload)}: ${response.body}`);
      assert.equal(response.json().success, false);
    }
    const afterCount = await context.db.query<{ count: number }>('select count(*)::int as count from staff_members');
    assert.equal(afterCount.rows[0]!.count, before.rows[0]!.count);
  });

  it('answers 409 for an email in use, and 401 without the admin token', async () => {
    const { email } = await createStaff(context.app, 'SUPPORT');
    const again = await post('/admin/v1/staff', { email, firstName: 'A', lastName: 'B', role: 'SUPPORT' });
    assert.equal(again.statusCode, 409);
    const anonymous = await post(
      '/admin/v1/staff',
      { email: 'q@clinic.example', firstName: 'A', lastName: 'B', role: 'ADMIN' },
      {},
    );
    assert.equal(anonymous.statusCode, 401);
  });

  it('without a password issues a one-time set-password link that works once', async () => {
    const email = `link-${Date.now()}@clinic.example`;
    const created = await post('/admin/v1/staff', { email, firstName: 'A', lastName: 'B', role: 'SUPPORT' });
    assert.equal(created.statusCode, 201);
    const { setPassword, hasPassword } = created.json();
    assert.equal(hasPassword, false);
    const hours = (Date.parse(setPassword.expiresAt) - Date.now()) / 3_600_000;
    assert.ok(hours > 23 && hours <= 24, String(hours));
    const { rows } = await context.db.query('select 1 from staff_password_tokens where token_hash = $1', [
      setPassword.token,
    ]);
    assert.equal(rows.length, 0, 'only the hash of the token is stored');
    const refusedFirst = await post('/staff/v1/auth/login', { email, password: PASSWORD }, {});
    assert.equal(refusedFirst.statusCode, 401);
    const set = await post('/staff/v1/auth/set-password', { token: setPassword.token, password: PASSWORD }, {});
    assert.equal(set.statusCode, 200, set.body);
    const reused = await post('/staff/v1/auth/set-password', { token: setPassword.token, password: PASSWORD }, {});
    assert.equal(reused.statusCode, 400);
    await signIn(context.app, email);
  });

  it('a set-password link past its 24 hours is refused', async () => {
    const { staffId } = await createStaff(context.app, 'SUPPORT');
    const reset = await post(`/admin/v1/staff/${staffId}/reset-password`, {});
    assert.equal(reset.statusCode, 200, reset.body);
    await context.db.query(
      `update staff_password_tokens set expires_at = now() - interval '1 second' where staff_id = $1`,
      [staffId],
    );
    const set = await post(
      '/staff/v1/auth/set-password',
      { token: reset.json().setPassword.token, password: PASSWORD },
      {},
    );
    assert.equal(set.statusCode, 400);
  });

  it('signs in with a token and an HttpOnly SameSite=Strict cookie; both reach /staff/v1/me', async () => {
    const { email } = await createStaff(context.app, 'SUPPORT');
    const login = await post('/staff/v1/auth/login', { email: email.toUpperCase(), password: PASSWORD }, {});
    assert.equal(login.statusCode, 200, login.body);
    const body = login.json();
    assert.equal(body.expiresIn, 12 * 3600);
    const cookie = String(login.headers['set-cookie']);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.match(cookie, /Secure/);
    assert.ok(cookie.includes(body.accessToken));
    const { rows } = await context.db.query('select 1 from staff_sessions where token_hash = $1', [body.accessToken]);
    assert.equal(rows.length, 0, 'the session token is stored hashed');
    const viaBearer = await context.app.inject({
      url: '/staff/v1/me',
      headers: { authorization: `Bearer ${body.accessToken}` },
    });
    assert.equal(viaBearer.statusCode, 200);
    assert.equal(viaBearer.json().email, email);
    const viaCookie = await context.app.inject({ url: '/staff/v1/me', headers: { cookie: cookie.split(';')[0]! } });
    assert.equal(viaCookie.statusCode, 200);
  });

  it('a cookie-authenticated write needs the CSRF token; logout then ends the session', async () => {
    const member = await staffMember(context.app, 'SUPPORT');
    const forged = await post('/staff/v1/auth/logout', {}, { cookie: member.cookie });
    assert.equal(forged.statusCode, 403);
    const wrong = await post('/staff/v1/auth/logout', {}, { cookie: member.cookie, 'x-csrf-token': 'nope' });
    assert.equal(wrong.statusCode, 403);
    assert.equal((await context.app.inject({ url: '/staff/v1/me', headers: bearer(member) })).statusCode, 200);
    const out = await post('/staff/v1/auth/logout', {}, { cookie: member.cookie, 'x-csrf-token': member.csrfToken });
    assert.equal(out.statusCode, 200);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    assert.equal((await context.app.inject({ url: '/staff/v1/me', headers: bearer(member) })).statusCode, 401);
  });

  it('disabling a member ends their sessions and refuses their sign-in', async () => {
    const member = await staffMember(context.app, 'PROVIDER');
    const disabled = await post(`/admin/v1/staff/${member.staffId}/disable`, {});
    assert.equal(disabled.statusCode, 200);
    assert.equal(disabled.json().disabled, true);
    assert.equal((await context.app.inject({ url: '/staff/v1/me', headers: bearer(member) })).statusCode, 401);
    const login = await post('/staff/v1/auth/login', { email: member.email, password: PASSWORD }, {});
    assert.equal(login.statusCode, 401);
    assert.equal((await post('/admin/v1/staff/not-a-uuid/disable', {})).statusCode, 404);
  });

  it('slows a guesser from one address without locking the member out elsewhere', async () => {
    const { email } = await createStaff(context.app, 'SUPPORT');
    const start = Date.parse('2030-01-01T00:00:00Z');
    let now = start;
    const service = new StaffService(context.db, context.services.phiCipher, () => now);
    const guess = (address: string, password = 'wrong password!') => service.login({ email, password, address });
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      assert.equal((await guess('10.0.0.1')).kind, 'refused', `attempt ${attempt}`);
    }
    // From the fifth failure each try waits: 1 s, then 2 s, 4 s, ...
    assert.deepEqual(await guess('10.0.0.1', PASSWORD), { kind: 'throttled', retryAfterSeconds: 1 });
    assert.equal((await guess('10.0.0.2', PASSWORD)).kind, 'signedIn', 'the member from another address');
    now = start + 1000;
    assert.equal((await guess('10.0.0.1')).kind, 'refused');
    assert.deepEqual(await guess('10.0.0.1', PASSWORD), { kind: 'throttled', retryAfterSeconds: 2 });
    now = start + 3000;
    assert.equal((await guess('10.0.0.1', PASSWORD)).kind, 'signedIn', 'the wait over, the right password works');
    assert.equal((await guess('10.0.0.1')).kind, 'refused', 'a success clears the count');
    assert.equal((await guess('10.0.0.1', PASSWORD)).kind, 'signedIn');
  });

  it('forgets the failures of a pair quiet for a day: the next failure deletes its row', async () => {
    const { email } = await createStaff(context.app, 'SUPPORT');
    const start = Date.parse('2031-01-01T00:00:00Z');
    let now = start;
    const service = new StaffService(context.db, context.services.phiCipher, () => now);
    const guess = (address: string) => service.login({ email, password: 'wrong password!', address });
    for (let attempt = 1; attempt <= 5; attempt += 1) await guess('10.0.1.1');
    await guess('10.0.1.2');
    const rows = async () =>
      (await context.db.query<{ failures: number }>('select failures from staff_login_throttle order by failures'))
        .rows;
    assert.deepEqual(
      (await rows()).map((row) => row.failures),
      [1, 5],
    );
    now = start + 23 * 60 * 60 * 1000;
    await guess('10.0.1.2');
    assert.deepEqual(
      (await rows()).map((row) => row.failures),
      [2, 5],
      'a day has not passed',
    );
    now = start + 24 * 60 * 60 * 1000 + 1000;
    await guess('10.0.1.3');
    assert.deepEqual(
      (await rows()).map((row) => row.failures),
      [1, 2],
      "10.0.1.1's row, quiet for a day, is gone; the others stay",
    );
    assert.equal((await guess('10.0.1.1')).kind, 'refused', 'its count starts again, with no wait');
  });

  it("an organization's ADMIN requires TOTP: its staff without one may only set it up until it is on", async () => {
    const orgA = await context.organization('TOTP A');
    const orgB = await context.organization('TOTP B');
    const adminA = await staffMember(context.app, 'ADMIN', { organizationIds: [orgA.organizationId] });
    const supportA = await staffMember(context.app, 'SUPPORT', { organizationIds: [orgA.organizationId] });
    const supportB = await staffMember(context.app, 'SUPPORT', { organizationIds: [orgB.organizationId] });
    const require = (member: typeof adminA, organizationId: string, required: unknown) =>
      context.app.inject({
        method: 'PUT',
        url: `/staff/v1/organizations/${organizationId}/totp-required`,
        headers: bearer(member),
        payload: { required },
      });
    assert.equal((await require(supportA, orgA.organizationId, true)).statusCode, 403, 'ADMIN only');
    assert.equal((await require(adminA, orgB.organizationId, true)).statusCode, 404, 'not their organization');
    assert.equal((await require(adminA, 'not-an-id', true)).statusCode, 404);
    assert.equal((await require(adminA, orgA.organizationId, 'yes')).statusCode, 400);
    const on = await require(adminA, orgA.organizationId, true);
    assert.equal(on.statusCode, 200, on.body);
    assert.deepEqual(on.json(), { organizationId: orgA.organizationId, staffTotpRequired: true });

    const queue = (member: typeof adminA) => context.app.inject({ url: '/staff/v1/cases', headers: bearer(member) });
    const refused = await queue(supportA);
    assert.equal(refused.statusCode, 403);
    assert.match(refused.json().error, /requires a second factor/);
    assert.equal((await queue(supportB)).statusCode, 200, 'another organization is not affected');
    assert.equal((await context.app.inject({ url: '/staff/v1/me', headers: bearer(supportA) })).statusCode, 200);

    const { secret } = (await post('/staff/v1/auth/totp/setup', {}, bearer(supportA))).json();
    const enabled = await post(
      '/staff/v1/auth/totp/enable',
      { secret, code: await generate({ secret }) },
      bearer(supportA),
    );
    assert.equal(enabled.statusCode, 200, enabled.body);
    assert.equal((await queue(supportA)).statusCode, 200, 'TOTP on: the session works');
    // The ADMIN themselves has no TOTP: they too are held to it, and turn it off only after setting theirs up.
    assert.equal((await queue(adminA)).statusCode, 403);
    const { secret: adminSecret } = (await post('/staff/v1/auth/totp/setup', {}, bearer(adminA))).json();
    const code = await generate({ secret: adminSecret });
    assert.equal(
      (await post('/staff/v1/auth/totp/enable', { secret: adminSecret, code }, bearer(adminA))).statusCode,
      200,
    );
    assert.equal((await require(adminA, orgA.organizationId, false)).statusCode, 200);
    await context.services.audit.flush();
    const audit = await context.app.inject({
      url: `/admin/v1/audit-events?staffId=${adminA.staffId}&action=organization.staff_totp`,
      headers: admin,
    });
    const events = audit.json().auditEvents as { organizationId: string; outcome: string }[];
    assert.ok(events.some((event) => event.organizationId === orgA.organizationId && event.outcome === 'success'));
  });

  it('answers a throttled sign-in over HTTP with 429 and retry-after', async () => {
    const { email } = await createStaff(context.app, 'SUPPORT');
    // Failures recorded an hour ahead of the server's clock: the server still waits for them.
    const ahead = new StaffService(context.db, context.services.phiCipher, () => Date.now() + 3_600_000);
    for (let attempt = 0; attempt < 5; attempt += 1) {
      await ahead.login({ email, password: 'wrong password!', address: '127.0.0.1' });
    }
    const response = await post('/staff/v1/auth/login', { email, password: PASSWORD }, {});
    assert.equal(response.statusCode, 429);
    assert.ok(Number(response.headers['retry-after']) > 3600);
  });

  it('a TOTP second factor, once enabled, is required at sign-in', async () => {
    const member = await staffMember(context.app, 'PROVIDER');
    const setup = await post('/staff/v1/auth/totp/setup', {}, bearer(member));
    assert.equal(setup.statusCode, 200, setup.body);
    const { secret, otpauthUri } = setup.json();
    assert.match(otpauthUri, /^otpauth:\/\/totp\//);
    const wrong = await post('/staff/v1/auth/totp/enable', { secret, code: 'abcdef' }, bearer(member));
    assert.equal(wrong.statusCode, 400);
    const code = await generate({ secret });
    const enable = await post('/staff/v1/auth/totp/enable', { secret, code }, bearer(member));
    assert.equal(enable.statusCode, 200, enable.body);
    const { rows } = await context.db.query<{ totp_secret_encrypted: string }>(
      'select totp_secret_encrypted from staff_members where id = $1',
      [member.staffId],
    );
    assert.ok(!rows[0]!.totp_secret_encrypted.includes(secret), 'the secret is sealed at rest');
    const withoutCode = await post('/staff/v1/auth/login', { email: member.email, password: PASSWORD }, {});
    assert.equal(withoutCode.statusCode, 401);
    assert.match(withoutCode.json().error, /TOTP/);
    const login = (totpCode: string) =>
      post('/staff/v1/auth/login', { email: member.email, password: PASSWORD, totpCode }, {});
    // The code just used to turn the factor on is spent: a replay of it is refused.
    const replay = await login(code);
    assert.equal(replay.statusCode, 401);
    assert.equal(replay.json().error, 'Invalid TOTP code');
    // As if the factor had been turned on a step earlier: the current code is then a fresh one.
    await context.db.query('update staff_members set totp_last_step = totp_last_step - 1 where id = $1', [
      member.staffId,
    ]);
    const withCode = await login(await generate({ secret }));
    assert.equal(withCode.statusCode, 200, withCode.body);
  });

  it('keeps no secret in the clear: passwords, session, CSRF and set-password tokens', async () => {
    const email = `secrets-${Date.now()}@clinic.example`;
    const created = await post('/admin/v1/staff', { email, firstName: 'A', lastName: 'B', role: 'SUPPORT' });
    const { token } = created.json().setPassword;
    const password = 'a password kept only as a hash';
    assert.equal((await post('/staff/v1/auth/set-password', { token, password }, {})).statusCode, 200);
    const member = await signIn(context.app, email, password);
    let text = '';
    for (const table of ['staff_members', 'staff_password_tokens', 'staff_sessions', 'staff_login_throttle']) {
      const { rows } = await context.db.query(`select * from ${table}`);
      text += JSON.stringify(rows);
    }
    for (const secret of [password, token, member.accessToken, member.csrfToken]) {
      assert.ok(!text.includes(secret), 'a secret is stored in the clear');
    }
  });

  it('lists staff for the operator, without secrets', async () => {
    const response = await context.app.inject({ url: '/admin/v1/staff', headers: admin });
    assert.equal(response.statusCode, 200);
    assert.ok(response.json().staff.length > 0);
    assert.ok(!response.body.includes('scrypt$'));
  });
});
