import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { intakeTestContext, minimalBody, postIntake, type TestContext } from '../cases/support.ts';

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

describe('GET /api/v1/check-user', () => {
  let context: TestContext;
  let apiKey: string;
  let otherKey: string;
  let organizationId: string;

  before(async () => {
    context = await intakeTestContext();
    ({ apiKey, organizationId } = await context.organization());
    ({ apiKey: otherKey } = await context.organization());
    const intake = await postIntake(
      context,
      apiKey,
      minimalBody({ email: 'Known.User@example.com', phoneNumber: '+11111111111' }),
    );
    assert.equal(intake.status, 200, JSON.stringify(intake.body));
  });
  after(() => context.close());

  const get = async (query: string, key: string | null = apiKey): Promise<Answer> => {
    const response = await context.app.inject({
      method: 'GET',
      url: `/api/v1/check-user${query}`,
      headers: key === null ? {} : { 'cv-api-key': key },
    });
    return { status: response.statusCode, body: response.json() };
  };

  it("answers the page's email and phone 200s with the patient's creation time", async () => {
    const { rows } = await context.db.query<{ created_at: Date }>(
      'select created_at from patients where organization_id = $1 and email = $2',
      [organizationId, 'known.user@example.com'],
    );
    const createdAt = rows[0]!.created_at.toISOString();
    assert.deepEqual(await get('?email=known.user%40example.com'), {
      status: 200,
      body: {
        status: 200,
        success: true,
        message: 'Email already exists',
        data: { createdAt, existsInCurrentOrganization: true, code: 'EMAIL_EXISTS' },
      },
    });
    assert.deepEqual(await get('?phone-number=%2B11111111111'), {
      status: 200,
      body: {
        status: 200,
        success: true,
        message: 'Phone number already exists',
        data: { createdAt, existsInCurrentOrganization: true, code: 'PHONE_NUMBER_EXISTS' },
      },
    });
    // Both: email wins.
    assert.equal(
      (await get('?email=KNOWN.USER%40example.com&phone-number=%2B19999999999')).body.data.code,
      'EMAIL_EXISTS',
    );
  });

  it("answers an unknown user, and another organization's, with the page's 200 success:false", async () => {
    const notFound = {
      status: 200,
      body: { status: 200, success: false, message: 'User does not exist', data: { code: 'USER_NOT_FOUND' } },
    };
    assert.deepEqual(await get('?email=nobody%40example.com'), notFound);
    assert.deepEqual(await get('?phone-number=%2B19999999999'), notFound);
    assert.deepEqual(await get('?email=known.user%40example.com', otherKey), notFound);
    assert.deepEqual(await get('?phone-number=%2B11111111111', otherKey), notFound);
  });

  it('refuses a request without email or phone-number, and a missing key', async () => {
    assert.deepEqual(await get(''), {
      status: 400,
      body: { status: 400, success: false, message: "The 'email' or 'phone-number' param is required" },
    });
    assert.deepEqual(await get('?email=a%40example.com', null), {
      status: 401,
      body: { status: 401, success: false, message: 'Secret key not provided!' },
    });
  });
});
