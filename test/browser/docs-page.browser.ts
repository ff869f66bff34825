import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { createTestContext, type TestContext } from '../support/app.ts';
import { launchChromium, newPage, OTHER_HOST, screenshot, watchPage } from './support.ts';

describe('the interactive API reference in a browser', () => {
  let context: TestContext;
  let browser: Browser;
  let port: number;

  before(async () => {
    context = await createTestContext();
    // Every interface, as HOST=0.0.0.0 serves it: the page must work under a name that is not localhost.
    await context.app.listen({ host: '0.0.0.0', port: 0 });
    port = (context.app.server.address() as AddressInfo).port;
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await context.close();
  });

  for (const host of ['127.0.0.1', OTHER_HOST]) {
    it(`renders /docs over plain HTTP on ${host}, and "try it" sends the Case Create example with the key entered once`, async () => {
      const origin = `http://${host}:${port}`;
      const { apiKey } = await context.organization(`Docs on ${host}`);
      const page = await newPage(browser, { width: 1280, height: 900 });
      const seen = watchPage(page, origin);

      await page.goto(`${origin}/docs/`);
      await page.getByRole('heading', { name: 'care360 API', level: 1 }).waitFor();
      assert.equal(await page.title(), 'care360 API');
      assert.ok(
        await page.getByText('Storefront API (cv-api-key)').first().isVisible(),
        'storefront operations come first',
      );

      // The key, once: kept in this browser's storage (persistAuth), so it survives a reload.
      const keyInput = page.locator('input.scalar-password-input').first();
      await keyInput.fill(apiKey);
      await page.waitForFunction(
        (key) => Object.values({ ...localStorage }).some((value) => value.includes(key)),
        apiKey,
      );
      // A new document, not a same-page hash change: the reference reads the fragment when it loads, and a hash
      // change right after a reload can land before it listens, leaving the operation closed.
      await page.goto('about:blank');
      await page.goto(`${origin}/docs/#tag/cases/POST/api/v1/dynamic-case`);
      await page.getByRole('button', { name: /Test Request\s*\(post \/api\/v1\/dynamic-case\)/ }).click();

      const sent = page.waitForResponse((response) => response.url() === `${origin}/api/v1/dynamic-case`);
      await page.getByRole('button', { name: /^Send/ }).first().click();
      const response = await sent;
      assert.equal(response.status(), 200, await response.text());
      const body = (await response.json()) as { success: boolean; data: { caseId: string } };
      assert.equal(body.success, true);
      assert.equal(response.request().headers()['cv-api-key'], apiKey);
      await page.getByText('200 OK').first().waitFor();

      const { rows } = await context.db.query<{ idempotency_key: string }>(
        'select idempotency_key from cases where id = $1',
        [body.data.caseId],
      );
      assert.deepEqual(rows, [{ idempotency_key: 'unique-case-key-123' }], 'the published example was written');

      await screenshot(page, `docs-${host}`);
      assert.deepEqual(seen.external, [], 'the page fetched nothing from outside this server');
      assert.deepEqual(seen.errors, [], 'no console errors (a refused script or connection shows here)');
      await page.context().close();
    });
  }
});
