/**
 * The console's speed in headless Chromium (issue 22's benchmark; figures, not asserts): the time from the page's
 * answer to the queue (25 cases) or a case page (40 answers) being usable, five loads each, and the staff API calls
 * each page makes. PGlite in memory, Debian's Chromium.
 *
 *   node --conditions=@care360/source --import tsx bench/console-speed.ts
 */
import type { AddressInfo } from 'node:net';
import { buildConsole } from '../scripts/build.ts';
import { minimalBody, postIntake } from '../test/cases/support.ts';
import { PASSWORD, staffMember } from '../test/staff/support.ts';
import { createTestContext } from '../test/support/app.ts';
import { launchChromium, newPage } from '../test/browser/support.ts';

await buildConsole();
const context = await createTestContext({ RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_PER_ADDRESS: '0' });
await context.app.listen({ host: '127.0.0.1', port: 0 });
const origin = `http://127.0.0.1:${(context.app.server.address() as AddressInfo).port}`;
const org = await context.organization('Speed');
const questions = Array.from({ length: 40 }, (_, i) => ({
  question: i === 0 ? 'What is your current weight?' : `Question ${i + 1}?`,
  type: 'TEXT',
  required: false,
  answer: `Answer ${i + 1}`,
}));
let caseId = '';
for (let i = 0; i < 25; i++) {
  const created = await postIntake(
    context,
    org.apiKey,
    minimalBody({
      email: `p${i}@example.com`,
      questions,
      shippingAddress: { addressLine1: '1 Main St', city: 'W', state: 'DC', country: 'US', postalCode: '20500' },
    }),
  );
  if (!created.body.data) throw new Error(JSON.stringify(created.body));
  caseId ||= created.body.data!.caseId!;
}
const member = await staffMember(context.app, 'SUPPORT', { organizationIds: [org.organizationId] });
const browser = await launchChromium();
const page = await newPage(browser, { width: 1280, height: 900 });
let apiCalls = 0;
page.on('request', (r) => {
  if (r.url().includes('/staff/v1/')) apiCalls++;
});
await page.goto(`${origin}/console`);
await page.getByLabel('Email').fill(member.email);
await page.locator('input[autocomplete="current-password"]').fill(PASSWORD);
await page.getByRole('button', { name: 'Sign in' }).click();
await page.getByRole('heading', { name: 'Case queue' }).waitFor();
for (const [name, url, ready] of [
  ['queue', `${origin}/console/`, () => page.locator('tbody tr').nth(24).waitFor()],
  ['case (40 answers)', `${origin}/console/cases/${caseId}`, () => page.getByText('Answer 40').waitFor()],
] as const) {
  const times: number[] = [];
  for (let run = 0; run < 5; run++) {
    apiCalls = 0;
    const response = page.waitForResponse((r) => r.url() === url);
    await page.goto(url);
    await response;
    const answered = performance.now();
    await ready();
    times.push(performance.now() - answered);
  }
  times.sort((a, b) => a - b);
  console.log(
    `${name}: usable ${times.map((t) => t.toFixed(0)).join(', ')} ms after the page's answer (median ${times[2]!.toFixed(0)}), API calls ${apiCalls}`,
  );
}
await browser.close();
await context.close();
