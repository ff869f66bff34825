/**
 * Where an intake's database time goes, statement by statement: `node --import tsx bench/statement-times.ts
 * [--count=3000] [--url=postgres://...]`. Builds the app in this process over a timing wrapper of the Database
 * (PGlite in a temporary directory, or the PostgreSQL database --url names, which must be one the run may fill),
 * sends --count intakes by form title one after another through `app.inject` (no HTTP, no concurrency: each
 * audit event is written alone), and prints the intake rate and each statement's mean and median time.
 */
import { parseArgs } from 'node:util';
import { intakeByTitle, UNIQUE } from './lib/bodies.ts';
import { printStatementTimes, runMain, withTimedApp } from './lib/statement-timing.ts';

const { values: args } = parseArgs({ options: { count: { type: 'string' }, url: { type: 'string' } } });
const count = Number(args.count ?? 3000);
const KEY_LENGTH = 48;

runMain(() =>
  withTimedApp(
    { name: 'statement-times', url: args.url, keyLength: KEY_LENGTH },
    async ({ app, engine, times, apiKey }) => {
      const body = intakeByTitle(`Statement times ${Date.now()}`);
      const send = (index: number) =>
        app.inject({
          method: 'POST',
          url: '/api/v1/dynamic-case',
          headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
          payload: body.split(UNIQUE).join(`st${index}`),
        });
      const first = await send(-1); // creates the form: not counted
      if (first.statusCode !== 200) throw new Error(`intake answered ${first.statusCode}: ${first.body}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      times.clear();
      const started = performance.now();
      for (let index = 0; index < count; index += 1) {
        const response = await send(index);
        if (response.statusCode !== 200) throw new Error(`intake answered ${response.statusCode}: ${response.body}`);
      }
      const elapsed = performance.now() - started;
      console.log(
        `${engine}: ${count} intakes one after another, ${(count / (elapsed / 1000)).toFixed(0)}/s, ` +
          `${(elapsed / count).toFixed(3)} ms each`,
      );
      const total = printStatementTimes(times, KEY_LENGTH, count);
      console.log(`  database time per intake: ${(total / count).toFixed(3)} ms`);
    },
  ),
);
