import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { intakeTestContext, minimalBody, postIntake, type TestContext } from '../cases/support.ts';

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

describe('POST /api/v1/users: UPDATE_PROFILE and UPDATE_EMAIL', () => {
  let context: TestContext;
  let apiKey: string;
  let otherKey: string;
  let organizationId: string;

  before(async () => {
    context = await intakeTestContext();
    ({ apiKey, organizationId } = await context.organization());
    ({ apiKey: otherKey } = await context.organization());
  });
  after(() => context.close());

  const post = async (body: unknown, key: string | null = apiKey): Promise<Answer> => {
    const response = await context.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'cv-api-key': key }) },
      payload: JSON.stringify(body),
    });
    return { status: response.statusCode, body: response.json() };
  };

  /** A patient of the organization, with one case; returns the email and the case id. */
  const newPatient = async (overrides: Record<string, unknown> = {}) => {
    const email = `${randomUUID()}@example.com`;
    const intake = await postIntake(
      context,
      apiKey,
      minimalBody({ email, firstName: 'John', lastName: 'Doe', dob: '2000-10-01', gender: 'MALE', ...overrides }),
    );
    assert.equal(intake.status, 200, JSON.stringify(intake.body));
    return { email, caseId: intake.body.data!.caseId! };
  };

  const patientRow = async (email: string) =>
    (
      await context.db.query<Record<string, unknown>>(
        `select first_name, last_name, to_char(dob, 'YYYY-MM-DD') as dob, gender, phone_number, shipping_address,
                health_sealed, updated_at
           from patients where organization_id = $1 and email = $2`,
        [organizationId, email],
      )
    ).rows[0];

  it("answers the page's UPDATE_EMAIL example with its 200 and the user object", async () => {
    const { email } = await newPatient({
      phoneNumber: '+11111111111',
      shippingAddress: {
        addressLine1: '1 ABC St',
        addressLine2: 'Apt 3',
        city: 'NYC',
        state: 'NY',
        country: 'US',
        postalCode: '10101',
      },
    });
    const answer = await post({
      action: 'UPDATE_EMAIL',
      data: { currentEmail: email, newEmail: 'doe.john@example.com' },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body, {
      status: 200,
      success: true,
      message: 'Email updated successfully',
      data: {
        user: {
          email: 'doe.john@example.com',
          firstName: 'John',
          lastName: 'Doe',
          dob: '2000-10-01',
          phoneNumber: '+11111111111',
          gender: 'MALE',
          address: '1 ABC St',
          address2: 'Apt 3',
          city: 'NYC',
          state: 'NY',
          country: 'US',
          postalCode: '10101',
        },
      },
    });
    assert.equal(await patientRow(email), undefined, 'the old email is gone');
    assert.ok(await patientRow('doe.john@example.com'));

    // The update is audited naming the patient, as its answer carries PHI.
    await context.services.audit.flush();
    const { rows } = await context.db.query<{ resource_id: string }>(
      "select resource_id from audit_events where organization_id = $1 and action = 'patient.update'",
      [organizationId],
    );
    assert.equal(rows.length, 1);
  });

  it("answers the page's 400 for an unknown user, another organization's, and a taken new email", async () => {
    const { email } = await newPatient();
    const unknown = await post({
      action: 'UPDATE_EMAIL',
      data: { currentEmail: 'nobody@example.com', newEmail: 'x@example.com' },
    });
    assert.deepEqual(unknown, {
      status: 400,
      body: { status: 400, success: false, message: 'User nobody@example.com does not exist' },
    });
    const otherOrganization = await post(
      { action: 'UPDATE_EMAIL', data: { currentEmail: email, newEmail: 'x@example.com' } },
      otherKey,
    );
    assert.deepEqual(otherOrganization.body, {
      status: 400,
      success: false,
      message: `User ${email} does not exist`,
    });
    const { email: second } = await newPatient();
    const taken = await post({ action: 'UPDATE_EMAIL', data: { currentEmail: email, newEmail: second } });
    assert.deepEqual(taken.body, { status: 400, success: false, message: `User ${second} already exists` });
    assert.ok(await patientRow(email), 'nothing changed');
  });

  it('UPDATE_PROFILE updates the fields sent, seals the health fields, and clears address2 with null', async () => {
    const { email } = await newPatient();
    const first = await post({
      action: 'UPDATE_PROFILE',
      data: {
        email,
        firstName: 'Johnny',
        phoneNumber: '+12025550123',
        address: '2 Main St',
        address2: 'Suite 5',
        city: 'Washington',
        state: 'dc',
        country: 'us',
        postalCode: '20001-1234',
        allergies: 'Penicillin',
        currentMedications: ['Metformin 500 mg'],
        languagePreferences: ['en', 'es'],
      },
    });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.message, 'Profile updated successfully');
    assert.deepEqual(first.body.data.user, {
      email,
      firstName: 'Johnny',
      lastName: 'Doe',
      dob: '2000-10-01',
      phoneNumber: '+12025550123',
      gender: 'MALE',
      address: '2 Main St',
      address2: 'Suite 5',
      city: 'Washington',
      state: 'DC',
      country: 'US',
      postalCode: '20001-1234',
    });
    const row = await patientRow(email);
    assert.ok(typeof row!.health_sealed === 'string');
    assert.ok(!(row!.health_sealed as string).includes('Penicillin'), 'sealed, never in plaintext');
    const health = JSON.parse(await context.services.phiCipher.decryptText(row!.health_sealed as string));
    assert.deepEqual(health, { allergies: 'Penicillin', currentMedications: ['Metformin 500 mg'] });

    const second = await post({ action: 'UPDATE_PROFILE', data: { email, address2: null, healthConditions: 'None' } });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal(second.body.data.user.address2, null);
    assert.equal(second.body.data.user.address, '2 Main St');
    const after = await patientRow(email);
    assert.deepEqual(JSON.parse(await context.services.phiCipher.decryptText(after!.health_sealed as string)), {
      allergies: 'Penicillin',
      currentMedications: ['Metformin 500 mg'],
      healthConditions: 'None',
    });
  });

  it('locks name, dob and gender once a case is assigned; other fields stay free', async () => {
    const { email, caseId } = await newPatient();
    await context.db.query(
      "update cases set status = 'ASSIGNED', assigned_at = now() where organization_id = $1 and id = $2",
      [organizationId, caseId],
    );
    const before = await patientRow(email);
    const refused = await post({ action: 'UPDATE_PROFILE', data: { email, firstName: 'Jane', gender: 'FEMALE' } });
    assert.deepEqual(refused, {
      status: 400,
      body: {
        status: 400,
        success: false,
        message: "firstName, gender can't be changed once a case is assigned to a provider; contact support",
      },
    });
    assert.deepEqual(await patientRow(email), before, 'nothing written');

    // The same values again are no change; the other fields update.
    const allowed = await post({
      action: 'UPDATE_PROFILE',
      data: { email, firstName: 'John', dob: '2000-10-01', city: 'Boston' },
    });
    assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
    assert.equal(allowed.body.data.user.city, 'Boston');

    // UPDATE_EMAIL is allowed at any time, an assigned case or not.
    const moved = await post({ action: 'UPDATE_EMAIL', data: { currentEmail: email, newEmail: `new-${email}` } });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
  });

  it('refuses bad input with a 400 naming the field, an unknown action, and a missing key; writes nothing', async () => {
    const { email } = await newPatient();
    const before = await patientRow(email);
    const cases: [unknown, string][] = [
      [{ data: { email } }, "The 'action' param is required: one of UPDATE_PROFILE, UPDATE_EMAIL, UPDATE_PAYMENT_INFO"],
      [
        { action: 'DELETE_USER', data: { email } },
        'Unknown action "DELETE_USER": one of UPDATE_PROFILE, UPDATE_EMAIL, UPDATE_PAYMENT_INFO',
      ],
      [{ action: 'UPDATE_PROFILE', data: {} }, 'Validation failed: data.email: Required'],
      [
        { action: 'UPDATE_PROFILE', data: { email, dob: '2000-02-30' } },
        'Validation failed: data.dob: Must be a real date in YYYY-MM-DD format, not in the future',
      ],
      [
        { action: 'UPDATE_PROFILE', data: { email, gender: 'X' } },
        'Validation failed: data.gender: Must be MALE, FEMALE or OTHER',
      ],
      [
        { action: 'UPDATE_PROFILE', data: { email, address: 'PO Box 12' } },
        'Validation failed: data.address: Must not be a PO Box',
      ],
      [
        { action: 'UPDATE_PROFILE', data: { email, postalCode: 'ABC' } },
        'Validation failed: data.postalCode: Must be 12345 or 12345-6789',
      ],
      [
        { action: 'UPDATE_PROFILE', data: { email, state: 'New York' } },
        'Validation failed: data.state: Must be at most 2 characters',
      ],
      [
        { action: 'UPDATE_PROFILE', data: { email, firstName: 'A\u0000' } },
        'Validation failed: data.firstName: Must not contain NUL characters',
      ],
      [
        { action: 'UPDATE_PROFILE', data: { email, allergies: 5 } },
        'Validation failed: data.allergies: Must be a string or an array of strings',
      ],
      [
        { action: 'UPDATE_EMAIL', data: { currentEmail: email, newEmail: 'not-an-email' } },
        'Validation failed: data.newEmail: Invalid email address',
      ],
    ];
    for (const [body, message] of cases) {
      const answer = await post(body);
      assert.deepEqual(answer, { status: 400, body: { status: 400, success: false, message } }, JSON.stringify(body));
    }
    assert.deepEqual(await patientRow(email), before, 'nothing written');
    const noKey = await post({ action: 'UPDATE_PROFILE', data: { email } }, null);
    assert.deepEqual(noKey, {
      status: 401,
      body: { status: 401, success: false, message: 'Secret key not provided!' },
    });
  });
});
