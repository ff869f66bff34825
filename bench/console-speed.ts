/**
 * The console's speed in headless Chromium (issue 22's benchmark; figures, not asserts): the time from the page's
 * answer to the queue (25 cases) or a case page (40 answers and 3 files) being usable, and for the case page to its
 * 3 files previewed, five loads each; the staff API calls each page makes; the compressed JavaScript it ships.
 * PGlite in memory, Debian's Chromium.
 *
 *   node --conditions=@care360/source --import tsx bench/console-speed.ts
 */
import { stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { projectPath } from '../src/paths.ts';
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
/** The first case's 3 files (two images, a PDF), previewed on its page. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
const PDF =
  '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n';
const files = {
  question: 'Photos and labs',
  type: 'FILE',
  required: false,
  answer: [
    { name: 'front.png', contentType: 'image/png', data: PNG },
    { name: 'side.png', contentType: 'image/png', data: PNG },
    { name: 'labs.pdf', contentType: 'application/pdf', data: Buffer.from(PDF).toString('base64') },
  ],
};
let caseId = '';
for (let i = 0; i < 25; i++) {
  const created = await postIntake(
    context,
    org.apiKey,
    minimalBody({
      email: `p${i}@example.com`,
      questions: i === 0 ? [...questions, files] : questions,
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
const filesShown = () =>
  page.waitForFunction(
    () =>
      document.querySelectorAll('img[alt^="Preview of"]').length === 2 &&
      document.querySelectorAll('iframe[title^="Preview of"]').length === 1,
  );
const median = (times: number[]) => [...times].sort((a, b) => a - b)[2]!;
const list = (times: number[]) =>
  [...times]
    .sort((a, b) => a - b)
    .map((t) => t.toFixed(0))
    .join(', ');
for (const [name, url, ready, settled] of [
  ['queue (25 cases)', `${origin}/console/`, () => page.locator('tbody tr').nth(24).waitFor(), null],
  [
    'case (40 answers, 3 files)',
    `${origin}/console/cases/${caseId}`,
    () => page.getByText('Answer 40').waitFor(),
    filesShown,
  ],
] as const) {
  const usable: number[] = [];
  const complete: number[] = [];
  for (let run = 0; run < 5; run++) {
    apiCalls = 0;
    const response = page.waitForResponse((r) => r.url() === url);
    await page.goto(url);
    await response;
    const answered = performance.now();
    await ready();
    usable.push(performance.now() - answered);
    if (settled) {
      await settled();
      complete.push(performance.now() - answered);
    }
    // The calls made after the page is usable (the timeline, the picker, the files) count too.
    await page.waitForLoadState('networkidle');
  }
  console.log(
    `${name}: usable ${list(usable)} ms after the page's answer (median ${median(usable).toFixed(0)})` +
      (complete.length ? `; files previewed ${list(complete)} ms (median ${median(complete).toFixed(0)})` : '') +
      `; staff API calls ${apiCalls}`,
  );
}
for (const file of ['app.js', 'app.css']) {
  const sizes = await Promise.all(
    ['', '.br', '.gz'].map(async (suffix) => (await stat(projectPath('dist', 'console', file + suffix))).size),
  );
  console.log(`${file}: ${sizes.map((size) => `${(size / 1024).toFixed(0)} KB`).join(' / ')} (raw / brotli / gzip)`);
}
await browser.close();
await context.close();
