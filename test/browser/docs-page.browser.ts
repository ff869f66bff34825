import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { createTestContext, type TestContext } from '../support/app.ts';

// Needs a Chromium: Debian's package (`apt-get install chromium`), as .ci/run installs it.
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('the interactive API reference in a browser', () => {
  let context: TestContext;
  let browser: Browser;
  let baseUrl: string;

  before(async () => {
    context = await createTestContext();
    baseUrl = await context.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({
      executablePath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
    });
  });
  after(async () => {
    await browser?.close();
    await context.close();
  });

  it('renders /docs offline and runs a request from it', async () => {
    const page = await browser.newPage();
    const external: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(baseUrl) && !request.url().startsWith('data:')) external.push(request.url());
    });
    await page.goto(`${baseUrl}/docs/`);
    await page.locator('.swagger-ui .info .title').waitFor({ timeout: 20_000 });
    assert.match(await page.locator('.swagger-ui .info .title').innerText(), /care360 API/);
    assert.ok((await page.locator('.opblock').count()) > 0, 'operations are listed');
    assert.ok(await page.locator('button.authorize').isVisible(), 'a key can be entered');

    // Try a request: GET /ready through the page's own "Try it out".
    const operation = page.locator('#operations-operations-get_ready');
    await operation.locator('.opblock-summary').click();
    // The reference opens in "try it out" mode (uiConfig.tryItOutEnabled), so Execute is there at once.
    await operation.locator('button.execute').click();
    const status = operation.locator('.live-responses-table tbody .response-col_status').first();
    await status.waitFor();
    assert.match(await status.innerText(), /200/);
    assert.match(
      await operation.locator('.live-responses-table tbody .response-col_description').first().innerText(),
      /ready/,
    );

    await page.screenshot({ path: process.env.DOCS_SCREENSHOT ?? '/tmp/care360-docs.png', fullPage: false });
    assert.deepEqual(external, [], 'the page fetched nothing from outside this server');
  });
});
