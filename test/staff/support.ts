import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { StaffRole } from '../../src/modules/staff/roles.ts';
import { ADMIN_TOKEN } from '../support/app.ts';

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
