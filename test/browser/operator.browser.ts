import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { buildConsole } from '../../scripts/build.ts';
import { minimalBody, postIntake } from '../cases/support.ts';
import { deliverUntil, Receiver, testWorker } from '../outbound-webhooks/support.ts';
import { createStaff, PASSWORD } from '../staff/support.ts';
import { createTestContext, type TestContext } from '../support/app.ts';
import { accessibilityProblems } from './axe.ts';
import { launchChromium, newPage, screenshot, watchPage } from './support.ts';

/**
 * The operator's path through the console, as a staff ADMIN of every organization: an organization and its API
 * keys (each shown once), a webhook endpoint pointed at a local receiver, a case made with the new key through the
 * partner API and its delivery listed, a redelivery, a promo code, a staff member with their one-time link, the
 * audit log. Every page passes axe-core (no serious or critical violation); each step saves a screenshot.
 */
describe('the console operator pages in a browser', () => {
  let context: TestContext;
  let browser: Browser;
  let origin: string;
  let receiver: Receiver;
  let admin: { email: string };
  let support: { email: string };

  before(async () => {
    await buildConsole();
    context = await createTestContext({
      RATE_LIMIT_PER_KEY: '0',
      RATE_LIMIT_PER_ADDRESS: '0',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    await context.app.listen({ host: '127.0.0.1', port: 0 });
    origin = `http://127.0.0.1:${(context.app.server.address() as AddressInfo).port}`;
    admin = await createStaff(context.app, 'ADMIN');
    support = await createStaff(context.app, 'SUPPORT');
    receiver = await new Receiver().start();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await receiver?.close();
    await context?.close();
  });

  const signIn = async (page: Page, email: string) => {
    await page.goto(`${origin}/console`);
    await page.getByLabel('Email').fill(email);
    await page.locator('input[autocomplete="current-password"]').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Case queue' }).waitFor();
  };

  const accessible = async (page: Page, name: string) => {
    assert.deepEqual(await accessibilityProblems(page), [], name);
    await screenshot(page, `operator-${name}`);
  };

  it('hides the operator pages from a SUPPORT member', async () => {
    const page = await newPage(browser, { width: 1280, height: 900 });
    await signIn(page, support.email);
    assert.equal(await page.getByRole('link', { name: 'Operator' }).count(), 0);
    await page.goto(`${origin}/console/operator/organizations`);
    await page.getByText('These pages are for an ADMIN who works for every organization.').waitFor();
    assert.equal(await page.getByRole('table').count(), 0);
    await page.context().close();
  });

  it('sets up an organization, key, webhook endpoint and promo code, and sees and redelivers a delivery', async () => {
    const page = await newPage(browser, { width: 1400, height: 1000 });
    const seen = watchPage(page, origin);
    page.on('dialog', (dialog) => void dialog.accept());
    await signIn(page, admin.email);

    // Organizations: create one; its first key is shown once.
    await page.getByRole('link', { name: 'Operator' }).click();
    await page.getByRole('heading', { name: 'Organizations' }).waitFor();
    await page.getByRole('textbox', { name: "New organization's name" }).fill('Operator Test Clinic');
    await page.getByRole('button', { name: 'Create organization' }).click();
    const firstKey = (await page.getByTestId('shown-once').innerText()).trim();
    assert.match(firstKey, /^c360_[A-Za-z0-9_-]{43}$/);
    const organizations = page.getByRole('table', { name: 'Organizations' });
    await organizations.getByRole('row', { name: /Operator Test Clinic/ }).waitFor();
    assert.match(await organizations.getByRole('row', { name: /Operator Test Clinic/ }).innerText(), /\t1\t/);
    await accessible(page, 'organizations');

    // The organization: a second key, shown once; the first one revoked.
    await page.getByRole('link', { name: 'open the organization' }).click();
    await page.getByRole('heading', { name: 'Operator Test Clinic' }).waitFor();
    assert.equal(await page.getByTestId('shown-once').count(), 0, 'the first key is not shown again');
    await page.getByRole('textbox', { name: 'Label (optional)', exact: true }).fill('storefront');
    await page.getByRole('button', { name: 'Create API key' }).click();
    const apiKey = (await page.getByRole('region', { name: 'API keys' }).getByTestId('shown-once').innerText()).trim();
    assert.match(apiKey, /^c360_/);
    assert.notEqual(apiKey, firstKey);
    const keys = page.getByRole('table', { name: 'API keys' });
    await keys.getByRole('row', { name: /storefront/ }).waitFor();
    assert.equal(await keys.locator('tbody tr').count(), 2);
    const oldKey = keys.locator('tbody tr').filter({ hasNotText: 'storefront' });
    await oldKey.getByRole('button', { name: /^Revoke the key/ }).click();
    await oldKey.getByText(/^Revoked/).waitFor();
    const refused = await postIntake(context, firstKey, minimalBody());
    assert.equal(refused.status, 401, 'the revoked key is refused');

    // A webhook endpoint at the local receiver: its secret shown once, no delivery yet.
    await page.getByRole('textbox', { name: 'Endpoint URL', exact: true }).fill(receiver.url('/care360'));
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    assert.match(
      await page.getByRole('region', { name: 'Webhook endpoints' }).getByTestId('shown-once').innerText(),
      /^whsec_/,
    );
    await page.getByRole('table', { name: 'Webhook endpoints' }).getByText(receiver.url('/care360')).waitFor();
    await page.getByText('No deliveries yet.').waitFor();
    await accessible(page, 'organization');

    // A case through the partner API with the new key; the worker delivers it; the page lists it.
    const created = await postIntake(context, apiKey, minimalBody({ email: 'operator.patient@example.com' }));
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const caseId = created.body.data!.caseId!;
    const worker = testWorker(context.db, context.services.phiCipher);
    await deliverUntil(worker, () => receiver.received.length >= 1);
    const deliveries = page.getByRole('table', { name: 'Deliveries' });
    const delivery = deliveries.locator('tbody tr').filter({ hasText: caseId });
    await delivery.filter({ hasText: 'delivered' }).waitFor();
    assert.match(await delivery.innerText(), /CREATE_CASE/);
    await accessible(page, 'deliveries');

    // Redeliver: queued again, sent again with the same webhook-id, listed as delivered with a second attempt.
    await delivery.getByRole('button', { name: /^Redeliver/ }).click();
    await page.getByRole('status').filter({ hasText: 'Delivery queued again' }).waitFor();
    await deliverUntil(worker, () => receiver.received.length >= 2);
    assert.equal(receiver.received[1]!.headers['webhook-id'], receiver.received[0]!.headers['webhook-id']);
    await deliveries.locator('tbody tr[data-delivery-status="delivered"]').filter({ hasText: caseId }).waitFor();
    await page.waitForFunction(
      (id) =>
        [...document.querySelectorAll('table[aria-label="Deliveries"] tbody tr')].some(
          (row) => row.textContent?.includes(id) && row.children[3]?.textContent === '2',
        ),
      caseId,
    );
    await screenshot(page, 'operator-redelivered');

    // Gateway credentials are write-only: the API's refusal is shown; once set, the page shows only that they are.
    const payments = page.getByRole('region', { name: 'Payments' });
    await payments.getByRole('textbox', { name: 'NMI tokenization key' }).fill('nmi-tokenization-secret-1234');
    await payments.getByRole('button', { name: 'Save credentials' }).click();
    await payments.getByRole('alert').filter({ hasText: 'nmiTokenizationKey needs nmiSecurityKey' }).waitFor();
    await payments.getByRole('textbox', { name: 'NMI security key' }).fill('nmi-security-secret-5678');
    await payments.getByRole('button', { name: 'Save credentials' }).click();
    await payments.getByText('Set (ends in 1234)').waitFor();
    await payments.getByText('Set (ends in 5678)').waitFor();
    assert.equal(await payments.getByRole('textbox', { name: 'NMI tokenization key' }).inputValue(), '');
    assert.equal(await payments.getByRole('textbox', { name: 'NMI security key' }).inputValue(), '');
    assert.equal(await payments.getByRole('alert').count(), 0);
    assert.ok(!(await page.content()).includes('-secret-'), 'no secret is in the page');

    // A promo code for the organization.
    await page.getByRole('navigation', { name: 'Operator pages' }).getByRole('link', { name: 'Promo codes' }).click();
    await page.getByRole('heading', { name: 'Promo codes' }).waitFor();
    await page
      .getByRole('combobox', { name: 'Organization', exact: true })
      .selectOption({ label: 'Operator Test Clinic' });
    await page.getByRole('textbox', { name: 'Code', exact: true }).fill('WELCOME10');
    await page.getByRole('textbox', { name: 'Amount', exact: true }).fill('10');
    await page.getByRole('button', { name: 'Create promo code' }).click();
    const promo = page.getByRole('table', { name: 'Promo codes' }).getByRole('row', { name: /WELCOME10/ });
    await promo.waitFor();
    assert.match(await promo.innerText(), /Operator Test Clinic\t10%\t0/);
    await accessible(page, 'promo-codes');

    // A staff member without a password: their one-time link is shown once.
    await page.getByRole('navigation', { name: 'Operator pages' }).getByRole('link', { name: 'Staff' }).click();
    await page.getByRole('heading', { name: 'Staff', exact: true }).waitFor();
    await page.getByRole('textbox', { name: 'Email', exact: true }).fill('new.provider@clinic.example');
    await page.getByRole('textbox', { name: 'First name', exact: true }).fill('Nora');
    await page.getByRole('textbox', { name: 'Last name', exact: true }).fill('Newton');
    await page.getByRole('combobox', { name: 'Role', exact: true }).selectOption('PROVIDER');
    await page.getByRole('textbox', { name: 'Licensed states', exact: true }).fill('DC, NY');
    await page.getByRole('checkbox', { name: 'Works for every organization', exact: true }).uncheck();
    await page.getByRole('checkbox', { name: 'Operator Test Clinic', exact: true }).check();
    await page.getByRole('button', { name: 'Create staff member' }).click();
    const link = (await page.getByTestId('shown-once').innerText()).trim();
    assert.match(link, new RegExp(`^${origin}/console/set-password#token=`));
    const member = page.getByRole('table', { name: 'Staff members' }).getByRole('row', { name: /Nora Newton/ });
    assert.match(await member.innerText(), /PROVIDER\s+DC, NY\s+Operator Test Clinic\tAwaiting password/);
    await accessible(page, 'staff');
    await member.getByRole('button', { name: 'Disable new.provider@clinic.example' }).click();
    await member.getByText('Disabled').waitFor();

    // The audit log, filtered to the organization: the case the key made.
    await page.getByRole('navigation', { name: 'Operator pages' }).getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page
      .getByRole('combobox', { name: 'Organization', exact: true })
      .selectOption({ label: 'Operator Test Clinic' });
    await page.getByRole('button', { name: 'Filter' }).click();
    const audit = page.getByRole('table', { name: 'Audit events' });
    await audit.getByRole('row', { name: new RegExp(`case\\.create.*${caseId}`) }).waitFor();
    for (const organization of await audit.locator('tbody tr td:nth-child(4)').allInnerTexts()) {
      assert.equal(organization, 'Operator Test Clinic');
    }
    await accessible(page, 'audit');

    // Nothing from another origin; no console error but the signed-out tab's 401 and the gateway refusal above (a
    // CSP refusal would show here).
    assert.deepEqual(seen.external, []);
    assert.deepEqual(
      seen.errors.filter((error) => !/status of 401/.test(error)),
      ['Failed to load resource: the server responded with a status of 400 (Bad Request)'],
    );
  });
});
