import assert from 'node:assert/strict';
import { generate } from 'otplib';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { buildConsole } from '../../scripts/build.ts';
import { minimalBody, postIntake } from '../cases/support.ts';
import { bearer, PASSWORD, signIn, staffMember, type SignedIn } from '../staff/support.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';
import { accessibilityProblems } from './axe.ts';
import { launchChromium, newPage, screenshot, watchPage } from './support.ts';

describe('the web console in a browser', () => {
  let context: TestContext;
  let browser: Browser;
  let origin: string;
  let organization: { organizationId: string; apiKey: string };
  let provider: { email: string };
  const caseIds: string[] = [];

  before(async () => {
    await buildConsole();
    context = await createTestContext({ RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_PER_ADDRESS: '0' });
    await context.app.listen({ host: '127.0.0.1', port: 0 });
    origin = `http://127.0.0.1:${(context.app.server.address() as AddressInfo).port}`;
    organization = await context.organization('Console clinic');
    for (const [firstName, lastName, email] of [
      ['Grace', 'Hopper', 'grace@example.com'],
      ['Alan', 'Turing', 'alan@example.com'],
    ] as const) {
      const created = await postIntake(
        context,
        organization.apiKey,
        minimalBody({
          firstName,
          lastName,
          email,
          phoneNumber: '+12025550123',
          shippingAddress: {
            addressLine1: '1 Main St',
            city: 'Washington',
            state: 'DC',
            country: 'US',
            postalCode: '20500',
          },
          questions: [
            { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' },
            { question: 'Any allergies?', type: 'TEXT', required: false, answer: 'Penicillin' },
          ],
        }),
      );
      assert.equal(created.status, 200, JSON.stringify(created.body));
      caseIds.push(created.body.data!.caseId!);
    }
    const member = await staffMember(context.app, 'PROVIDER', {
      organizationIds: [organization.organizationId],
      title: 'MD',
      npi: '1234567890',
      dea: 'AB1234567',
      licensedStates: ['DC'],
    });
    provider = { email: member.email };
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await context?.close();
  });

  it('signs in, opens the queue and a case, decides it with a medication, archives it and signs out', async () => {
    const page = await newPage(browser, { width: 1280, height: 900 });
    const seen = watchPage(page, origin);

    // Sign-in.
    await page.goto(`${origin}/console`);
    await page.getByRole('heading', { name: 'Sign in to the care360 console' }).waitFor();
    assert.deepEqual(await accessibilityProblems(page), [], 'sign-in page');
    await page.getByLabel('Email').fill(provider.email);
    await page.locator('input[autocomplete="current-password"]').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.match(await page.getByRole('alert').innerText(), /Invalid email or password/);
    await page.locator('input[autocomplete="current-password"]').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();

    // The queue: both cases, oldest first, with their counts; j/k move, Enter opens.
    await page.getByRole('heading', { name: 'Case queue' }).waitFor();
    const table = page.getByRole('table', { name: 'Cases' });
    await table.getByRole('row').nth(2).waitFor();
    const rows = table.locator('tbody tr');
    assert.equal(await rows.count(), 2);
    assert.match(await rows.nth(0).innerText(), /Grace Hopper/);
    assert.match(await rows.nth(1).innerText(), /Alan Turing/);
    assert.ok(
      await page.getByRole('checkbox', { name: 'open (2)' }).or(page.getByText('open (2)')).first().isVisible(),
    );
    assert.deepEqual(await accessibilityProblems(page), [], 'queue');
    await screenshot(page, 'console-queue');
    await page.keyboard.press('j');
    assert.equal(await rows.nth(1).getAttribute('aria-current'), 'true');
    await page.keyboard.press('k');
    assert.equal(await rows.nth(0).getAttribute('aria-current'), 'true');
    await page.keyboard.press('Enter');

    // The case page.
    await page.waitForURL(`${origin}/console/cases/${caseIds[0]}`);
    await page.getByRole('heading', { name: /^Case [A-Z0-9]{3}-[A-Z0-9]{5}$/ }).waitFor();
    const patient = page.getByRole('region', { name: 'Patient' });
    assert.match(await patient.innerText(), /Grace Hopper/);
    assert.match(
      await page.getByRole('region', { name: 'Form responses' }).innerText(),
      /Any allergies\?\s*Penicillin/,
    );
    assert.match(await page.getByRole('region', { name: 'Timeline' }).innerText(), /Case created/);

    await page.getByRole('button', { name: 'Assign to me' }).click();
    await page.getByText('Assigned to you.').waitFor();
    await page.getByRole('button', { name: 'Start review' }).click();
    await page.getByRole('heading', { name: 'Decision' }).waitFor();
    assert.deepEqual(await accessibilityProblems(page), [], 'case page with the decision form');

    // Meanwhile the case changes elsewhere (the same provider, signed in through the API): the page's decision
    // carries the version it read, and the API's 409 is shown as the API words it.
    const elsewhere: SignedIn = await signIn(context.app, provider.email);
    const unassign = await context.app.inject({
      method: 'POST',
      url: `/staff/v1/cases/${caseIds[0]}/unassign`,
      headers: bearer(elsewhere),
      payload: {},
    });
    assert.equal(unassign.statusCode, 200, unassign.body);
    const assignBack = await context.app.inject({
      method: 'POST',
      url: `/staff/v1/cases/${caseIds[0]}/assign`,
      headers: bearer(elsewhere),
      payload: { assigneeId: elsewhere.staffId },
    });
    assert.equal(assignBack.statusCode, 200, assignBack.body);

    const decision = page.getByRole('form', { name: 'Decision' });
    await decision.getByLabel('Medicine').fill('Semaglutide');
    await decision.getByLabel('Dosage').fill('0.25 mg');
    await decision.getByLabel('Dosing frequency').fill('weekly');
    await decision.getByLabel('Decision note').fill('Meets the criteria.');
    await decision.getByRole('button', { name: 'Record the decision' }).click();
    const refused = decision.getByRole('alert');
    await refused.waitFor();
    assert.match(await refused.innerText(), /changed|version/i, 'the API refusal is shown');
    await screenshot(page, 'console-decision-refused');

    // The page reloaded the case (ASSIGNED again, new version): start the review and decide again.
    await page.getByRole('button', { name: 'Start review' }).click();
    await page.getByRole('heading', { name: 'Decision' }).waitFor();
    await decision.getByLabel('Medicine').fill('Semaglutide');
    await decision.getByLabel('Dosage').fill('0.25 mg');
    await decision.getByRole('button', { name: 'Record the decision' }).click();
    await page.getByText('approved', { exact: true }).first().waitFor();
    assert.match(await page.getByRole('region', { name: 'Timeline' }).innerText(), /Decision: Approved/);

    // The partner API reports the decision.
    const partner = await context.app.inject({
      method: 'GET',
      url: `/api/v1/customer-case-detail?caseId=${caseIds[0]}`,
      headers: { 'cv-api-key': organization.apiKey },
    });
    assert.equal(partner.statusCode, 200, partner.body);
    const partnerCase = partner.json().caseDetail;
    assert.equal(partnerCase.status, 'APPROVED');
    assert.equal(partnerCase.decisions[0].medInfo[0].medicine, 'Semaglutide');
    await screenshot(page, 'console-case');

    // Archive, then sign out: the tab shows nothing of the case any more.
    await page.getByLabel('Archive note').fill('Prescription sent.');
    await page.getByRole('button', { name: 'Archive the case' }).click();
    await page.getByText('archived complete').waitFor();
    assert.equal(
      (
        await context.app.inject({
          method: 'GET',
          url: `/staff/v1/cases/${caseIds[0]}`,
          headers: bearer(elsewhere),
        })
      ).json().caseDetail.isArchived,
      true,
    );

    const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }));
    assert.doesNotMatch(storage, /Grace|Hopper|grace@example/, 'no PHI in local storage');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to the care360 console' }).waitFor();
    assert.doesNotMatch(await page.locator('body').innerText(), /Grace|Hopper|Semaglutide/);
    const after = await page.request.get(`${origin}/staff/v1/me`);
    assert.equal(after.status(), 401, 'the session ended');

    assert.deepEqual(seen.external, [], 'the page fetched nothing from outside this server');
    // Chromium logs each 4xx answer; the 401s (signed out, the wrong password) and the 409 above are expected.
    const unexpected = seen.errors.filter((error) => !/^Failed to load resource: .* status of (401|409) /.test(error));
    assert.deepEqual(unexpected, [], 'no other console errors (a refused script or style shows here)');
    await page.context().close();
  });

  it('asks for the authentication code of an account with the second factor, and signs in with it', async () => {
    const member = await staffMember(context.app, 'SUPPORT', { organizationIds: [organization.organizationId] });
    const setup = await context.app.inject({
      method: 'POST',
      url: '/staff/v1/auth/totp/setup',
      headers: bearer(member),
    });
    const { secret } = setup.json() as { secret: string };
    const enable = await context.app.inject({
      method: 'POST',
      url: '/staff/v1/auth/totp/enable',
      headers: bearer(member),
      payload: { secret, code: await generate({ secret }) },
    });
    assert.equal(enable.statusCode, 200, enable.body);
    // The code of this time step was used to turn the factor on; a code is good once, so step back (as accounts.test).
    await context.db.query('update staff_members set totp_last_step = totp_last_step - 1 where id = $1', [
      member.staffId,
    ]);

    const page = await newPage(browser, { width: 1280, height: 900 });
    await page.goto(`${origin}/console`);
    await page.getByLabel('Email').fill(member.email);
    await page.locator('input[autocomplete="current-password"]').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    assert.match(await page.getByRole('alert').innerText(), /TOTP code is required/);
    const code = page.getByLabel('Authentication code');
    await code.fill(await generate({ secret }));
    assert.deepEqual(await accessibilityProblems(page), [], 'sign-in page with the code field');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Case queue' }).waitFor();
    assert.match(await page.getByLabel('Signed in as').innerText(), /SUPPORT/);
    await page.getByText('Alan Turing').waitFor(); // the case the first test left open

    // The operator disables the member (ending their sessions): the next call answers 401, and the tab drops what
    // it showed and asks to sign in.
    const disable = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/staff/${member.staffId}/disable`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(disable.statusCode, 200, disable.body);
    await page.getByText(/^open \(\d+\)$/).click();
    await page.getByRole('heading', { name: 'Sign in to the care360 console' }).waitFor();
    assert.doesNotMatch(await page.locator('body').innerText(), /Grace|Hopper|Turing/);
    await page.context().close();
  });
});
