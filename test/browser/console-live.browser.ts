import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { buildConsole } from '../../scripts/build.ts';
import { minimalBody, postIntake } from '../cases/support.ts';
import { bearer, createStaff, PASSWORD, signIn, staffAct, type SignedIn } from '../staff/support.ts';
import { createTestContext, type TestContext } from '../support/app.ts';
import { accessibilityProblems } from './axe.ts';
import { launchChromium, newPage, screenshot, watchPage } from './support.ts';

/** A 1×1 PNG, attached to a partner's comment. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

/**
 * The console for a member of several organizations (the queue's organization filter), a partner comment's
 * attachment, the live refresh when the window regains focus or the tab becomes visible, and the operator renaming
 * an organization.
 */
describe('the console: organizations, comment attachments, live refresh, renaming', () => {
  let context: TestContext;
  let browser: Browser;
  let origin: string;
  let north: { organizationId: string; apiKey: string };
  let south: { organizationId: string; apiKey: string };
  let northCase: string;

  const intake = async (organization: { apiKey: string }, firstName: string, lastName: string) => {
    const created = await postIntake(
      context,
      organization.apiKey,
      minimalBody({
        firstName,
        lastName,
        email: `${firstName.toLowerCase()}@example.com`,
        shippingAddress: {
          addressLine1: '1 Main St',
          city: 'Washington',
          state: 'DC',
          country: 'US',
          postalCode: '20500',
        },
      }),
    );
    assert.equal(created.status, 200, JSON.stringify(created.body));
    return created.body.data!.caseId!;
  };

  /** Signs in through the page (the session cookie and this tab's CSRF token) and waits for the queue. */
  const signInPage = async (page: Page, email: string) => {
    await page.goto(`${origin}/console`);
    await page.getByLabel('Email').fill(email);
    await page.locator('input[autocomplete="current-password"]').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Case queue' }).waitFor();
  };

  /** What the browser sends when the window regains focus, or when the tab becomes visible again. */
  const regainFocus = (page: Page) => page.evaluate(() => window.dispatchEvent(new Event('focus')));
  const becomeVisible = (page: Page) =>
    page.evaluate(() => document.dispatchEvent(new Event('visibilitychange', { bubbles: true })));

  before(async () => {
    await buildConsole();
    context = await createTestContext({ RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_PER_ADDRESS: '0' });
    await context.app.listen({ host: '127.0.0.1', port: 0 });
    origin = `http://127.0.0.1:${(context.app.server.address() as AddressInfo).port}`;
    north = await context.organization('North clinic');
    south = await context.organization('South clinic');
    northCase = await intake(north, 'Ada', 'Lovelace');
    await intake(south, 'Barbara', 'Liskov');
    const comment = await context.app.inject({
      method: 'POST',
      url: `/api/v1/cases/${northCase}`,
      headers: { 'cv-api-key': north.apiKey },
      payload: {
        action: 'ADD_COMMUNICATION',
        communication: {
          text: 'Photo of the rash attached.',
          isRestricted: false,
          webhookNotify: false,
          author: { email: 'partner@example.com', firstName: 'Pat', lastName: 'Partner' },
          attachments: [{ fileName: 'rash.png', content: PNG, isPHI: true }],
        },
      },
    });
    assert.equal(comment.statusCode, 200, comment.body);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await context?.close();
  });

  it('filters the queue by organization, shows a comment attachment and refreshes on focus and visibility', async () => {
    const { email } = await createStaff(context.app, 'SUPPORT', {
      organizationIds: [north.organizationId, south.organizationId],
    });
    const elsewhere: SignedIn = await signIn(context.app, email);
    const page = await newPage(browser, { width: 1280, height: 900 });
    const seen = watchPage(page, origin);
    await signInPage(page, email);

    // Both organizations' cases, each row naming its organization; the filter keeps one.
    const rows = page.getByRole('table', { name: 'Cases' }).locator('tbody tr');
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2);
    assert.match(await rows.nth(0).innerText(), /North clinic[\s\S]*Ada Lovelace/);
    assert.match(await rows.nth(1).innerText(), /South clinic[\s\S]*Barbara Liskov/);
    await page
      .getByRole('textbox', { name: 'Organization' })
      .or(page.getByRole('combobox', { name: 'Organization' }))
      .click();
    await page.getByRole('option', { name: 'South clinic' }).click();
    await page.waitForFunction(() => {
      const shown = [...document.querySelectorAll('table[aria-label="Cases"] tbody tr')];
      return shown.length === 1 && shown[0]!.textContent!.includes('Barbara Liskov');
    });
    assert.match(await page.getByRole('group', { name: 'Filter by status' }).innerText(), /All \(1\)/);
    assert.deepEqual(await accessibilityProblems(page), [], 'queue with the organization filter');
    await screenshot(page, 'console-queue-organizations');

    // Live refresh of the queue: a new case of South arrives; the window regains focus and the queue shows it.
    await intake(south, 'Donald', 'Knuth');
    const refreshed = page.waitForResponse((response) => response.url().includes('/staff/v1/cases?'));
    await regainFocus(page);
    await refreshed;
    await rows.nth(1).getByText('Donald Knuth').waitFor();
    assert.equal(await rows.count(), 2, 'still only South');

    // The North case: the partner's comment with its attachment, previewed from memory.
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page
      .getByRole('link', { name: /^[A-Z0-9]{3}-[A-Z0-9]{5}$/ })
      .first()
      .click();
    await page.waitForURL(`${origin}/console/cases/${northCase}`);
    const notes = page.getByRole('region', { name: 'Comments and internal notes' });
    await notes.getByText('Photo of the rash attached.').waitFor();
    const image = notes.getByRole('img', { name: 'Preview of rash.png' });
    await image.waitFor();
    assert.match(String(await image.getAttribute('src')), /^blob:/);
    await notes.getByRole('link', { name: 'Download rash.png' }).waitFor();
    assert.deepEqual(await accessibilityProblems(page), [], 'case page with a comment attachment');

    // Live refresh of the open case (which has no poll of its own): another session escalates it and notes on it;
    // the window regaining focus shows the escalation, the tab becoming visible shows the note.
    const read = await context.app.inject({ url: `/staff/v1/cases/${northCase}`, headers: bearer(elsewhere) });
    const escalated = await staffAct(context.app, elsewhere, northCase, 'escalate', {
      expectedVersion: read.json().version,
    });
    assert.equal(escalated.statusCode, 200, escalated.body);
    await regainFocus(page);
    await page.getByRole('button', { name: 'De-escalate' }).waitFor();
    const timeline = page.getByRole('region', { name: 'Timeline' });
    await timeline
      .getByText(/escalated/i)
      .first()
      .waitFor();
    const noted = await context.app.inject({
      method: 'POST',
      url: `/staff/v1/cases/${northCase}/comments`,
      headers: bearer(elsewhere),
      payload: { text: 'Called the pharmacy.', isRestricted: true },
    });
    assert.equal(noted.statusCode, 200, noted.body);
    await becomeVisible(page);
    await notes.getByText('Called the pharmacy.').waitFor();

    // The member's own action refreshes the queue too: de-escalated here, the queue shows it so at once.
    await page.getByRole('button', { name: 'De-escalate' }).click();
    await page.getByRole('button', { name: 'Escalate', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Back to the queue' }).click();
    await rows.first().getByText('Ada Lovelace').waitFor();
    await page.waitForFunction(() => {
      const shown = [...document.querySelectorAll('table[aria-label="Cases"] tbody tr')];
      return shown.length === 3 && !shown.some((row) => row.textContent!.includes('Escalated'));
    });

    assert.deepEqual(seen.external, []);
    const unexpected = seen.errors.filter((error) => !/^Failed to load resource: .* status of 401 /.test(error));
    assert.deepEqual(unexpected, [], 'no console errors but the signed-out /me');
    await page.context().close();
  });

  it('lets the operator rename an organization, audited', async () => {
    const { email } = await createStaff(context.app, 'ADMIN', {});
    const page = await newPage(browser, { width: 1280, height: 900 });
    const seen = watchPage(page, origin);
    await signInPage(page, email);
    await page.goto(`${origin}/console/operator/organizations/${south.organizationId}`);
    await page.getByRole('heading', { name: 'South clinic' }).waitFor();
    const form = page.getByRole('form', { name: 'Rename the organization' });
    await form.getByLabel('Name').fill('   ');
    await form.getByRole('button', { name: 'Rename' }).click();
    assert.match(await form.getByRole('alert').innerText(), /name/);
    await form.getByLabel('Name').fill('South clinic (Austin)');
    await form.getByRole('button', { name: 'Rename' }).click();
    await form.getByRole('status').getByText('Renamed to South clinic (Austin).').waitFor();
    await page.getByRole('heading', { name: 'South clinic (Austin)' }).waitFor();
    assert.deepEqual(await accessibilityProblems(page), [], 'organization page after renaming');
    await screenshot(page, 'operator-organization-renamed');
    const { rows } = await context.db.query<{ name: string }>('select name from organizations where id = $1', [
      south.organizationId,
    ]);
    assert.deepEqual(rows, [{ name: 'South clinic (Austin)' }]);
    await context.services.audit.flush();
    const events = await context.db.query<{ status_code: number; staff_id: string | null }>(
      `select status_code, staff_id from audit_events where action = 'organization.rename' order by status_code`,
    );
    assert.deepEqual(
      events.rows.map((event) => event.status_code),
      [200, 400],
    );
    assert.ok(
      events.rows.every((event) => event.staff_id !== null),
      'the member who renamed is named',
    );

    assert.deepEqual(seen.external, []);
    const unexpected = seen.errors.filter((error) => !/^Failed to load resource: .* status of (400|401) /.test(error));
    assert.deepEqual(unexpected, [], 'no console errors but the signed-out /me and the refused name');
    await page.context().close();
  });
});
