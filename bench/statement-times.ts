/**
 * Where an intake's database time goes, statement by statement: `node --import tsx bench/statement-times.ts
 * [--count=3000] [--url=postgres://...] [--scenario=case-detail]`. Builds the app in this process over a timing wrapper of the Database
 * (PGlite in a temporary directory, or the PostgreSQL database --url names, which must be one the run may fill),
 * sends --count intakes by form title one after another through `app.inject` (no HTTP, no concurrency: each
 * audit event is written alone), and prints the intake rate and each statement's mean and median time.
 * `--scenario=case-detail`: the same for `GET /api/v1/customer-case-detail?caseId=` of one case (6 answers, 2 PHI).
 */
import { parseArgs } from 'node:util';
import { intakeByTitle, intakeWithTwoPhi, UNIQUE } from './lib/bodies.ts';
import { printStatementTimes, runMain, withTimedApp } from './lib/statement-timing.ts';

const { values: args } = parseArgs({
  options: { count: { type: 'string' }, url: { type: 'string' }, scenario: { type: 'string', default: 'intake' } },
});
const reads = args.scenario === 'case-detail';
if (!reads && args.scenario !== 'intake') throw new Error('--scenario: intake or case-detail');
const count = Number(args.count ?? 3000);
const KEY_LENGTH = 48;

runMain(() =>
  withTimedApp(
    { name: 'statement-times', url: args.url, keyLength: KEY_LENGTH },
    async ({ app, services, engine, times, apiKey }) => {
      const body = (reads ? intakeWithTwoPhi : intakeByTitle)(`Statement times ${Date.now()}`);
      const intake = (index: number) =>
        app.inject({
          method: 'POST',
          url: '/api/v1/dynamic-case',
          headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
          payload: body.split(UNIQUE).join(`st${index}`),
        });
      const first = await intake(-1); // creates the form (and the case the reads read): not counted
      if (first.statusCode !== 200) throw new Error(`intake answered ${first.statusCode}: ${first.body}`);
      const caseId = first.json<{ data: { caseId: string } }>().data.caseId;
      const send = reads
        ? () =>
            app.inject({
              method: 'GET',
              url: `/api/v1/customer-case-detail?caseId=${caseId}`,
              headers: { 'cv-api-key': apiKey },
            })
        : intake;
      await new Promise((resolve) => setTimeout(resolve, 100));
      times.clear();
      const started = performance.now();
      for (let index = 0; index < count; index += 1) {
        const response = await send(index);
        if (response.statusCode !== 200)
          throw new Error(`${args.scenario} answered ${response.statusCode}: ${response.body}`);
      }
      await services.audit.flush();
      const elapsed = performance.now() - started;
      console.log(
        `${engine}: ${count} ${args.scenario} requests one after another, ${(count / (elapsed / 1000)).toFixed(0)}/s, ` +
          `${(elapsed / count).toFixed(3)} ms each`,
      );
      const total = printStatementTimes(times, KEY_LENGTH, count);
      console.log(`  database time per request: ${(total / count).toFixed(3)} ms`);
    },
  ),
);
