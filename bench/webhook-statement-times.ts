/**
 * Where a webhook delivery's database time goes: `node --import tsx bench/webhook-statement-times.ts
 * [--count=1000] [--url=postgres://...] [--concurrency=32]`. Queues --count intakes' CREATE_CASE deliveries to a
 * local receiver that answers 200 at once, then drains the queue with the worker over a timing wrapper of the
 * Database, and prints the delivery rate and each statement's count, mean and total per delivery; --profile=FILE
 * writes a CPU profile of the drain (bench/profile-summary.ts reads it).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Session } from 'node:inspector/promises';
import { writeFile } from 'node:fs/promises';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { createServices } from '../src/services.ts';
import { intakeByTitle, UNIQUE } from './lib/bodies.ts';
import { median } from './lib/stats.ts';

const { values: args } = parseArgs({
  options: {
    count: { type: 'string' },
    url: { type: 'string' },
    concurrency: { type: 'string' },
    profile: { type: 'string' },
  },
});
const count = Number(args.count ?? 1000);

function timed(db: Database, times: Map<string, number[]>): Database {
  return {
    ...db,
    query: async (text, params) => {
      const started = performance.now();
      try {
        return await db.query(text, params);
      } finally {
        const key = (typeof text === 'string' ? text : (text as { text: string }).text)
          .replace(/\s+/g, ' ')
          .trim()
          .slice(0, 60);
        if (!times.has(key)) times.set(key, []);
        times.get(key)!.push(performance.now() - started);
      }
    },
    exec: (script) => db.exec(script),
    transaction: (work) => db.transaction(work),
    close: () => db.close(),
  };
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'care360-webhook-times-'));
  const db = args.url
    ? await openDatabase({ engine: 'postgres', url: args.url })
    : await openDatabase({ engine: 'pglite', dataDir });
  let received = 0;
  const receiver = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received += 1;
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const times = new Map<string, number[]>();
  try {
    await migrate(db);
    const adminToken = randomBytes(16).toString('hex');
    const config = loadConfig({
      ADMIN_TOKEN: adminToken,
      LOG_LEVEL: 'silent',
      DATA_DIR: dataDir,
      PHI_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      RATE_LIMIT_PER_KEY: '1000000000',
      RATE_LIMIT_PER_ADDRESS: '1000000000',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      WEBHOOK_CONCURRENCY: args.concurrency ?? '32',
    });
    const timedDb = timed(db, times);
    const services = createServices(timedDb, config);
    const app = await buildApp({ config, db: timedDb, services, logger: false });
    try {
      const admin = { authorization: `Bearer ${adminToken}` };
      const organization = await app.inject({
        method: 'POST',
        url: '/admin/v1/organizations',
        headers: admin,
        payload: { name: `Webhook times ${Date.now()}` },
      });
      const { apiKey, organizationId } = organization.json<{ apiKey: string; organizationId: string }>();
      const hook = await app.inject({
        method: 'POST',
        url: `/admin/v1/organizations/${organizationId}/webhooks`,
        headers: admin,
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
        `${db.engine}: ${received} deliveries, ${(received / (elapsed / 1000)).toFixed(0)}/s, ` +
          `process CPU ${((used.user + used.system) / 1000 / received).toFixed(3)} ms each`,
      );
      let total = 0;
      for (const [statement, samples] of times) {
        const sum = samples.reduce((a, b) => a + b, 0);
        total += sum;
        console.log(
          `  ${statement.padEnd(60)}  ${String(samples.length).padStart(6)}x  mean ${(sum / samples.length).toFixed(3)} ms` +
            `  median ${median(samples).toFixed(3)} ms`,
        );
      }
      console.log(
        `  statements per delivery: ${([...times.values()].reduce((a, s) => a + s.length, 0) / received).toFixed(2)}; summed time per delivery ${(total / received).toFixed(3)} ms`,
      );
    } finally {
      await app.close();
    }
  } finally {
    receiver.close();
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
