import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../src/config.ts';
import type { StaffRole } from '../../src/modules/staff/roles.ts';
import { minimalBody, postIntake } from '../cases/support.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';

export const PASSWORD = 'correct horse battery staple';

export interface SignedIn {
  staffId: string;
  email: string;
  accessToken: string;
  csrfToken: string;
  cookie: string;
}

let counter = 0;

/** A staff member created through the admin API with a password. */
export async function createStaff(
  app: FastifyInstance,
  role: StaffRole,
  extra: Record<string, unknown> = {},
): Promise<{ staffId: string; email: string }> {
  const email = `staff${++counter}-${Date.now()}@clinic.example`;
  const response = await app.inject({
    method: 'POST',
    url: '/admin/v1/staff',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    payload: { email, firstName: 'Sam', lastName: `Staff${counter}`, role, password: PASSWORD, ...extra },
  });
  assert.equal(response.statusCode, 201, response.body);
  return { staffId: response.json().staffId, email };
}

export async function signIn(app: FastifyInstance, email: string, password = PASSWORD): Promise<SignedIn> {
  const response = await app.inject({ method: 'POST', url: '/staff/v1/auth/login', payload: { email, password } });
  assert.equal(response.statusCode, 200, response.body);
  const body = response.json();
  const setCookie = String(response.headers['set-cookie']);
  return {
    staffId: body.staff.staffId,
    email,
    accessToken: body.accessToken,
    csrfToken: body.csrfToken,
    cookie: setCookie.split(';')[0]!,
  };
}

export async function staffMember(app: FastifyInstance, role: StaffRole, extra: Record<string, unknown> = {}) {
  const { email } = await createStaff(app, role, extra);
  return signIn(app, email);
}

export const bearer = (member: SignedIn) => ({ authorization: `Bearer ${member.accessToken}` });

/** A case through the partner intake, its patient shipping to `state`; answers its id. */
export async function intakeCase(
  app: FastifyInstance,
  apiKey: string,
  patient: { email: string; state: string; lastName?: string; phoneNumber?: string },
): Promise<string> {
  const { state, ...fields } = patient;
  const shippingAddress = { addressLine1: '1 Main St', city: 'Town', state, country: 'US', postalCode: '20500' };
  const created = await postIntake({ app }, apiKey, minimalBody({ ...fields, shippingAddress }));
  assert.equal(created.status, 200, JSON.stringify(created.body));
  return created.body.data!.caseId!;
}

/** The app for staff case tests: no request rate limits, webhooks to a local address allowed. */
export const staffCaseContext = (configure?: (config: Config) => void): Promise<TestContext> =>
  createTestContext(
    { RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_PER_ADDRESS: '0', WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' },
    configure,
  );

/** A staff action: POST /staff/v1/cases/:caseId/<action>. */
export const staffAct = (
  app: FastifyInstance,
  member: SignedIn,
  caseId: string,
  action: string,
  payload: Record<string, unknown> = {},
) => app.inject({ method: 'POST', url: `/staff/v1/cases/${caseId}/${action}`, headers: bearer(member), payload });

/** The case as the partner's case detail shows it. */
export async function partnerCase(app: FastifyInstance, apiKey: string, caseId: string) {
  const response = await app.inject({
    url: `/api/v1/customer-case-detail?caseId=${caseId}`,
    headers: { 'cv-api-key': apiKey },
  });
  assert.equal(response.statusCode, 200, response.body);
  return response.json().caseDetail;
}
