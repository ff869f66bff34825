import assert from 'node:assert/strict';
import { generate } from 'otplib';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { buildConsole } from '../../scripts/build.ts';
import { minimalBody, postIntake } from '../cases/support.ts';
import { saveMethodForCase } from '../payments/support.ts';
import { bearer, PASSWORD, signIn, staffMember, type SignedIn } from '../staff/support.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';
import { accessibilityProblems } from './axe.ts';
import { launchChromium, newPage, screenshot, watchPage } from './support.ts';

/** A one-page PDF with a line of text, for the preview. */
const MINIMAL_PDF = `%PDF-1.4
1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 144]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>endobj
4 0 obj<</Length 44>>stream
BT /F1 18 Tf 20 70 Td (Lab results) Tj ET
endstream endobj
5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj
trailer<</Root 1 0 R>>
%%EOF
`;

describe('the web console in a browser', () => {
  let context: TestContext;
  let browser: Browser;
  let origin: string;
  let organization: { organizationId: string; apiKey: string };
  let provider: { email: string; staffId: string };
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
    provider = { email: member.email, staffId: member.staffId };
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
    const timeline = page.getByRole('region', { name: 'Timeline' });
    await timeline.getByText('Decision recorded').waitFor();
    assert.match(await timeline.innerText(), /Status in progress → approved/);

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
  it('a SUPPORT member assigns a case to the provider, notes, escalates and works its payments', async () => {
    const member = await staffMember(context.app, 'SUPPORT', { organizationIds: [organization.organizationId] });
    const caseId = caseIds[1]!;
    await saveMethodForCase(context, organization.organizationId, caseId, {
      gateway: 'simulated',
      customerId: 'cus_console',
      paymentMethodId: 'pm_console',
    });
    for (const amount of [40, 15]) {
      const hold = await context.app.inject({
        method: 'POST',
        url: `/api/v1/cases/${caseId}/payments`,
        headers: { 'cv-api-key': organization.apiKey },
        payload: { amount, preauthorize: true, description: `Visit hold ${amount}` },
      });
      assert.equal(hold.statusCode, 200, hold.body);
    }

    const page = await newPage(browser, { width: 1280, height: 1000 });
    const seen = watchPage(page, origin);
    await page.goto(`${origin}/console`);
    await page.getByLabel('Email').fill(member.email);
    await page.locator('input[autocomplete="current-password"]').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Case queue' }).waitFor();
    await page
      .getByRole('row', { name: /Alan Turing/ })
      .getByRole('link')
      .click();
    await page.waitForURL(`${origin}/console/cases/${caseId}`);
    await page.getByRole('heading', { name: /^Case / }).waitFor();

    // Assign to someone else: the picker lists the clinic's members, the provider licensed here.
    await page.getByRole('combobox', { name: 'Assign to' }).click();
    const option = page.getByRole('option', { name: /MD · provider · licensed here/ });
    await option.click();
    await page.getByRole('button', { name: 'Assign', exact: true }).click();
    await page.getByText('Assigned to another member.').waitFor();
    const assigned = await context.app.inject({
      url: `/api/v1/customer-case-detail?caseId=${caseId}`,
      headers: { 'cv-api-key': organization.apiKey },
    });
    assert.equal(assigned.json().caseDetail.assignedTo.id, provider.staffId, 'the partner API sees the assignee');

    // An internal note, then escalation; both show, and the timeline names the member.
    const notes = page.getByRole('region', { name: 'Comments and internal notes' });
    await notes.getByLabel('New comment or note').fill('Called the patient about the allergy.');
    await notes.getByRole('button', { name: 'Add the internal note' }).click();
    await notes.getByRole('article', { name: 'Internal note' }).waitFor();
    assert.match(await notes.innerText(), /Called the patient about the allergy\./);
    await page.getByRole('button', { name: 'Escalate' }).click();
    await page.getByRole('button', { name: 'De-escalate' }).waitFor();
    const timeline = page.getByRole('region', { name: 'Timeline' });
    await timeline.getByText('Escalated').waitFor();
    assert.match(await timeline.innerText(), /Assigned[\s\S]*Comment or internal note added[\s\S]*Escalated/);
    assert.match(await timeline.innerText(), /by Sam Staff\d+/);

    // Payments: capture 30 of the 40 held, after a confirmation; a refund above what was paid shows the API's error.
    const payments = page.getByRole('region', { name: 'Payments' });
    await payments.getByRole('button', { name: /^Capture .*40\.00$/ }).click();
    await payments.getByLabel('Amount (empty: all)').fill('30');
    await payments.getByRole('button', { name: 'Confirm capture' }).click();
    await payments.getByRole('cell', { name: 'PAID', exact: true }).waitFor();
    await payments.getByRole('button', { name: /^Refund / }).click();
    await payments.getByLabel('Amount (empty: all)').fill('500');
    await payments.getByRole('button', { name: 'Confirm refund' }).click();
    const refusal = payments.getByRole('alert');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /amount|exceed|more/i);
    await payments.getByRole('button', { name: 'Cancel' }).click();
    // Release the other hold.
    await payments.getByRole('button', { name: /^Release .*15\.00$/ }).click();
    await payments.getByRole('button', { name: 'Confirm release' }).click();
    await payments.getByRole('cell', { name: 'CANCELED', exact: true }).waitFor();
    assert.deepEqual(await accessibilityProblems(page), [], 'case page with notes, timeline and payments');
    await screenshot(page, 'console-case-support'); // docs/console-case.png in the README

    // A case with an image and a PDF: both previewed in the page from their staff links, and downloadable.
    const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
    const withFiles = await postIntake(
      context,
      organization.apiKey,
      minimalBody({
        email: 'files@example.com',
        shippingAddress: {
          addressLine1: '1 Main St',
          city: 'Washington',
          state: 'DC',
          country: 'US',
          postalCode: '20500',
        },
        questions: [
          { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' },
          {
            question: 'Photos and labs',
            type: 'FILE',
            required: false,
            phi: true,
            answer: [
              { name: 'rash.png', contentType: 'image/png', data: PNG },
              { name: 'labs.pdf', contentType: 'application/pdf', data: Buffer.from(MINIMAL_PDF).toString('base64') },
            ],
          },
        ],
      }),
    );
    assert.equal(withFiles.status, 200, JSON.stringify(withFiles.body));
    const filesCaseId = withFiles.body.data!.caseId!;
    await page.goto(`${origin}/console/cases/${filesCaseId}`);
    const files = page.getByRole('region', { name: 'Files' });
    const image = files.getByRole('img', { name: 'Preview of rash.png' });
    await image.waitFor();
    await page.waitForFunction(
      () => (document.querySelector('img[alt="Preview of rash.png"]') as HTMLImageElement | null)?.naturalWidth === 1,
    );
    assert.match(String(await image.getAttribute('src')), /^blob:/);
    const pdf = files.locator('iframe[title="Preview of labs.pdf"]');
    await pdf.waitFor();
    assert.match(String(await pdf.getAttribute('src')), /^blob:/);
    const downloadLink = files.getByRole('link', { name: 'Download labs.pdf' });
    const [download] = await Promise.all([page.waitForEvent('download'), downloadLink.click()]);
    assert.equal(download.suggestedFilename(), 'labs.pdf');
    assert.deepEqual(await accessibilityProblems(page), [], 'case page with file previews');
    await screenshot(page, 'console-case-files');
    const downloads = await context.db.query<{ staff_id: string }>(
      `select staff_id from audit_events where action = 'file.read' and organization_id = $1`,
      [organization.organizationId],
    );
    assert.equal(downloads.rows.length, 2, 'each file fetched once, audited');
    assert.ok(downloads.rows.every((row) => row.staff_id === member.staffId));

    const partner = await context.app.inject({
      url: `/api/v1/customer-case-detail?caseId=${caseId}`,
      headers: { 'cv-api-key': organization.apiKey },
    });
    const statuses = (partner.json().caseDetail.payments as { status: string }[]).map((payment) => payment.status);
    assert.deepEqual(statuses.sort(), ['CANCELED', 'PAID']);
    assert.equal(partner.json().caseDetail.isEscalated, true);
    assert.doesNotMatch(partner.body, /Called the patient/, 'the partner never sees an internal note');

    // Chromium's own PDF viewer loads from chrome:// and chrome-extension:// (no network): anything else is external.
    const external = seen.external.filter((url) => !/^chrome(-extension)?:\/\//.test(url));
    assert.deepEqual(external, [], 'the page fetched nothing from outside this server');
    const unexpected = seen.errors.filter((error) => !/^Failed to load resource: .* status of (400|401) /.test(error));
    assert.deepEqual(unexpected, [], 'no console errors but the signed-out /me and the refused refund');
    await page.context().close();
  });
  it('sets a password from the one-time link, then filters and pages the queue', async () => {
    const created = await context.app.inject({
      method: 'POST',
      url: '/admin/v1/staff',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: {
        email: 'new.support@clinic.example',
        firstName: 'Nia',
        lastName: 'New',
        role: 'SUPPORT',
        organizationIds: [organization.organizationId],
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    const { token } = created.json().setPassword as { token: string };
    // 55 more cases in New York: the queue's first page holds 50.
    for (let index = 0; index < 55; index += 1) {
      const intake = await postIntake(
        context,
        organization.apiKey,
        minimalBody({
          firstName: 'Page',
          lastName: `Patient${String(index).padStart(2, '0')}`,
          email: `page${index}@example.com`,
          shippingAddress: {
            addressLine1: '2 Broadway',
            city: 'New York',
            state: 'NY',
            country: 'US',
            postalCode: '10004',
          },
        }),
      );
      assert.equal(intake.status, 200, JSON.stringify(intake.body));
    }

    const page = await newPage(browser, { width: 1280, height: 900 });
    const seen = watchPage(page, origin);
    await page.goto(`${origin}/console/set-password#token=${encodeURIComponent(token)}`);
    await page.getByRole('heading', { name: 'Set your password' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the token leaves the address at once');
    assert.deepEqual(await accessibilityProblems(page), [], 'set-password page');
    await page.locator('input[autocomplete="new-password"]').first().fill('too short');
    await page.locator('input[autocomplete="new-password"]').last().fill('too short');
    await page.getByRole('button', { name: 'Set the password' }).click();
    assert.match(await page.getByRole('alert').innerText(), /at least 12 characters/);
    const password = 'a long enough new password';
    await page.locator('input[autocomplete="new-password"]').first().fill(password);
    await page.locator('input[autocomplete="new-password"]').last().fill(password);
    await page.getByRole('button', { name: 'Set the password' }).click();
    await page.getByRole('status').getByText('Your password is set.').waitFor();
    // The link works once: the API's refusal is shown as it words it. (A query makes it a new page load, not a
    // move to a fragment of the page already open.)
    await page.goto(`${origin}/console/set-password?again#token=${encodeURIComponent(token)}`);
    await page.locator('input[autocomplete="new-password"]').first().fill(password);
    await page.locator('input[autocomplete="new-password"]').last().fill(password);
    await page.getByRole('button', { name: 'Set the password' }).click();
    assert.match(await page.getByRole('alert').innerText(), /link is invalid, used or expired/);

    await page.goto(`${origin}/console`);
    await page.getByLabel('Email').fill('new.support@clinic.example');
    await page.locator('input[autocomplete="current-password"]').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Case queue' }).waitFor();
    const rows = page.getByRole('table', { name: 'Cases' }).locator('tbody tr');
    await rows.nth(49).waitFor();
    assert.equal(await rows.count(), 50);
    assert.deepEqual(await accessibilityProblems(page), [], 'queue with its filters and pages');
    await screenshot(page, 'console-queue-full'); // docs/console-queue.png in the README

    // Keyset paging: the next page continues where the first stopped, oldest first.
    const firstPage = await rows.allInnerTexts();
    await page.getByRole('button', { name: 'Next page' }).click();
    await page.getByText('Page 2').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('table[aria-label="Cases"] tbody tr').length < 50);
    const secondPage = await rows.allInnerTexts();
    assert.ok(secondPage.length > 0);
    assert.ok(
      secondPage.every((row) => !firstPage.includes(row)),
      'no case on both pages',
    );
    assert.match(secondPage[secondPage.length - 1]!, /Page Patient54/);
    await page.getByRole('button', { name: 'First page' }).click();
    await page.getByText('Page 1').waitFor();

    // The patient's state: only the New York cases; another state has none.
    await page.getByLabel("Patient's state").fill('NY');
    await page.getByText('Page 1').waitFor();
    // The previous page stays shown until the filtered one arrives: wait for rows whose State cell is NY only.
    await page.waitForFunction(() => {
      const shown = [...document.querySelectorAll('table[aria-label="Cases"] tbody tr')];
      return shown.length > 0 && shown.every((row) => row.children[2]?.textContent === 'NY');
    });
    assert.equal(await rows.count(), 50, '55 New York cases: a full first page');
    await page.getByLabel("Patient's state").fill('CA');
    await page.getByText('No cases match.').waitFor();
    await page.getByRole('button', { name: 'Clear filters' }).click();

    // Archived cases: the first test archived Grace Hopper's case; the open queue does not show it.
    await page
      .getByRole('textbox', { name: 'Queue' })
      .or(page.getByRole('combobox', { name: 'Queue' }))
      .click();
    await page.getByRole('option', { name: 'Archived cases' }).click();
    const archivedRows = page.getByRole('table', { name: 'Cases' }).locator('tbody tr');
    await archivedRows.first().getByText('Grace Hopper').waitFor();
    assert.equal(await archivedRows.count(), 1);

    // Escalated only: the case the SUPPORT test escalated.
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByRole('combobox', { name: 'Escalation' }).click();
    await page.getByRole('option', { name: 'Escalated', exact: true }).click();
    // (The archived list shown before also has one row: wait for the escalated one.)
    await page.waitForFunction(() => {
      const shown = document.querySelectorAll('table[aria-label="Cases"] tbody tr');
      return shown.length === 1 && shown[0]!.textContent!.includes('Alan Turing');
    });
    assert.match(await rows.first().innerText(), /Alan Turing[\s\S]*Escalated/i);
    await screenshot(page, 'console-queue-filters');

    assert.deepEqual(seen.external, []);
    const unexpected = seen.errors.filter((error) => !/^Failed to load resource: .* status of (400|401) /.test(error));
    assert.deepEqual(unexpected, [], 'no console errors but the signed-out /me and the used token');
    await page.context().close();
  });
});
