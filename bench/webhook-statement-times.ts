/**
 * Where a webhook delivery's database time goes: `node --import tsx bench/webhook-statement-times.ts
 * [--count=1000] [--url=postgres://...] [--concurrency=32]`. Queues --count intakes' CREATE_CASE deliveries to a
 * local receiver that answers 200 at once, then drains the queue with the worker over a timing wrapper of the
 * Database, and prints the delivery rate and each statement's count, mean and total per delivery; --profile=FILE
 * writes a CPU profile of the drain (bench/profile-summary.ts reads it).
 */
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { intakeByTitle, UNIQUE } from './lib/bodies.ts';
import { printStatementTimes, runMain, withTimedApp } from './lib/statement-timing.ts';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string' },
    url: { type: 'string' },
    concurrency: { type: 'string' },
    profile: { type: 'string' },
  },
});
const count = Number(args.count ?? 1000);
const KEY_LENGTH = 60;

async function main(): Promise<void> {
  let received = 0;
  const receiver = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received += 1;
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  try {
    const environment = { WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_CONCURRENCY: args.concurrency ?? '32' };
    await withTimedApp(
      { name: 'webhook-times', url: args.url, keyLength: KEY_LENGTH, environment },
      async ({ app, services, engine, times, adminHeaders, apiKey, organizationId }) => {
        const hook = await app.inject({
          method: 'POST',
          url: `/admin/v1/organizations/${organizationId}/webhooks`,
          headers: adminHeaders,
          payload: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` },
        });
        if (hook.statusCode !== 201) throw new Error(`webhook answered ${hook.statusCode}: ${hook.body}`);
        const body = intakeByTitle(`Webhook times ${Date.now()}`);
        for (let index = 0; index < count; index += 1) {
          const response = await app.inject({
            method: 'POST',
            url: '/api/v1/dynamic-case',
            headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
            payload: body.split(UNIQUE).join(`wt${index}`),
          });
          if (response.statusCode !== 200) throw new Error(`intake answered ${response.statusCode}: ${response.body}`);
        }
        times.clear();
        received = 0;
        const cpu = process.cpuUsage();
        const session = new Session();
        if (args.profile) {
          session.connect();
          await session.post('Profiler.enable');
          await session.post('Profiler.start');
        }
        const started = performance.now();
        await services.webhookDelivery.drain();
        const elapsed = performance.now() - started;
        if (args.profile) {
          const { profile } = await session.post('Profiler.stop');
          await writeFile(args.profile, JSON.stringify(profile));
          session.disconnect();
        }
        const used = process.cpuUsage(cpu);
        console.log(
          `${engine}: ${received} deliveries, ${(received / (elapsed / 1000)).toFixed(0)}/s, ` +
            `process CPU ${((used.user + used.system) / 1000 / received).toFixed(3)} ms each`,
        );
        const total = printStatementTimes(times, KEY_LENGTH);
        const statements = [...times.values()].reduce((sum, samples) => sum + samples.length, 0);
        console.log(
          `  statements per delivery: ${(statements / received).toFixed(2)}; summed time per delivery ` +
            `${(total / received).toFixed(3)} ms`,
        );
      },
    );
  } finally {
    receiver.close();
  }
}

runMain(main);
