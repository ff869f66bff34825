// npm run fuzz -- --runs 100000 [--seed 42]: the fuzz suite of test/security/fuzz.test.ts, as many runs
// as asked, on PGlite (or on PostgreSQL with TEST_DATABASE_URL). Prints progress and the figures.
import { parseArgs } from 'node:util';
import { startFakeStripe } from '../test/fakes/stripe-server.ts';
import { runFuzz } from '../test/security/fuzz-engine.ts';
import { contextWithRouteTable, createOrganizationFixture } from '../test/security/support.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '1000' }, seed: { type: 'string' } },
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive whole number');

const started = Date.now();
const fake = await startFakeStripe();
const context = await contextWithRouteTable(fake.environment({ LOG_LEVEL: 'silent' }));
try {
  const owner = await createOrganizationFixture(context, 'Fuzz');
  const operated = await createOrganizationFixture(context, 'Operated');
  console.log(
    `fuzz: ${runs} runs over ${context.routes.length} routes on ${process.env.TEST_DATABASE_URL ? 'PostgreSQL' : 'PGlite'}`,
  );
  const report = await runFuzz(context, owner, operated, {
    runs,
    ...(values.seed ? { seed: Number(values.seed) } : {}),
    onProgress: (progress) => console.log(`  ${progress.requests} requests, ${progress.rejected} rejected`),
  });
  console.log(
    [
      `requests sent:            ${report.requests} (seed ${report.seed})`,
      `answers by status:        ${JSON.stringify(report.byStatus)}`,
      `rejected (4xx):           ${report.rejected}, each followed by a check of every table`,
      `rows checked unchanged:   ${report.rowsChecked}`,
      `5xx or broken envelopes:  ${report.failure ? 'FOUND' : 'none'}`,
      `time:                     ${((Date.now() - started) / 1000).toFixed(1)} s`,
    ].join('\n'),
  );
  if (report.failure) {
    console.error(report.failure);
    process.exitCode = 1;
  }
} finally {
  await context.close();
  await fake.stop();
}
