/**
 * `npm run bench:cpu`: the application's own CPU time per intake, with PostgreSQL, sockets and the load
 * generator out of the picture, for judging a change to the code of the hot path. On this shared 2-core host a
 * full benchmark run drifts by more than most such changes; here both variants run in one process, on a
 * database stand-in that answers every statement as a real one did, in alternated batches, and are compared by
 * their medians. Single-threaded (`node --single-threaded`, as the npm script runs it), so GC and compiler
 * threads do not add their noise to the process's CPU time.
 *
 *   npm run bench:cpu -- --build=before          bundle the working tree's app as the variant "before"
 *   ... change the code ...
 *   npm run bench:cpu -- --build=after
 *   npm run bench:cpu -- --variants=before,after [--rounds=12] [--batch=2000] [--inflight=16]
 *
 * The answers are recorded first, from intakes of the working tree's app on an in-memory PGlite; a variant
 * that sends SQL the recording did not see fails (measure SQL changes with `npm run bench:ab`). What it leaves
 * out, the pg driver and the HTTP server, is the same for every variant.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase, type Database } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { projectPath, projectRoot } from '../src/paths.ts';
import { createServices } from '../src/services.ts';
import { API_KEY, ENVIRONMENT, FORM_TITLE, type IntakeRunner, type RecordedAnswers } from './lib/app-cpu-runner.ts';
import { intakeByTitle, UNIQUE } from './lib/bodies.ts';
import { median } from './lib/stats.ts';

const { values: args } = parseArgs({
  options: {
    build: { type: 'string' },
    variants: { type: 'string' },
    rounds: { type: 'string', default: '12' },
    batch: { type: 'string', default: '2000' },
    inflight: { type: 'string', default: '16' },
  },
  strict: true,
});

const bundleOf = (name: string) => projectPath('bench', 'results', 'tmp', 'app-cpu', `${name}.mjs`);

/** The statements of intakes by form title (a known, cached form) and what PGlite answered each. */
async function recordAnswers(): Promise<RecordedAnswers> {
  const real = await openDatabase({ engine: 'pglite' });
  try {
    await migrate(real);
    const config = loadConfig(ENVIRONMENT);
    const services = createServices(real, config);
    await services.organizations.ensureBootstrapKey(API_KEY);
    const answers: RecordedAnswers = [];
    const recording = {
      ...real,
      query: async (text: string, params?: readonly unknown[]) => {
        const result = await real.query(text, params);
        answers.push([text, result]);
        return result;
      },
    } as Database;
    // The first app creates the form; the second, new to the key and the form, reads both as a server does.
    for (const [round, db] of [real, recording].entries()) {
      const app = await buildApp({ config, db, services: createServices(db, config), logger: false });
      for (let index = 0; index < 3; index++) {
        const response = await app.inject({
          method: 'POST',
          url: '/api/v1/dynamic-case',
          headers: { 'cv-api-key': API_KEY, 'content-type': 'application/json' },
          payload: intakeByTitle(FORM_TITLE).split(UNIQUE).join(`record${round}-${index}`),
        });
        if (response.statusCode !== 200) throw new Error(`recording: ${response.statusCode} ${response.body}`);
      }
      await app.close();
    }
    return answers;
  } finally {
    await real.close();
  }
}

async function main(): Promise<void> {
  if (args.build) {
    if (!/^[\w.-]+$/.test(args.build)) throw new Error('--build takes a plain name');
    await mkdir(path.dirname(bundleOf(args.build)), { recursive: true });
    await build({
      absWorkingDir: projectRoot,
      entryPoints: ['bench/lib/app-cpu-runner.ts'],
      outfile: bundleOf(args.build),
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'warning',
    });
    console.log(`variant ${args.build}: ${path.relative(projectRoot, bundleOf(args.build))}`);
    return;
  }
  const names = (args.variants ?? '').split(',').filter(Boolean);
  if (names.length < 1) throw new Error('--variants=a,b (bundled first with --build=a, --build=b) or --build=name');
  const rounds = Number(args.rounds);
  const batch = Number(args.batch);
  const inflight = Number(args.inflight);

  const answers = await recordAnswers();
  const variants: { name: string; run: IntakeRunner; microseconds: number[] }[] = [];
  for (const name of names) {
    const module = (await import(pathToFileURL(bundleOf(name)).href)) as typeof import('./lib/app-cpu-runner.ts');
    variants.push({ name, run: await module.createIntakeRunner(answers), microseconds: [] });
  }
  for (const variant of variants) await variant.run(batch * 2, inflight); // compiled and warm before measuring
  for (let round = 0; round < rounds; round++) {
    for (const variant of round % 2 === 0 ? variants : [...variants].reverse()) {
      const before = process.cpuUsage();
      await variant.run(batch, inflight);
      const used = process.cpuUsage(before);
      variant.microseconds.push((used.user + used.system) / batch);
    }
  }
  console.log(`CPU per intake, medians of ${rounds} alternated batches of ${batch} (${inflight} in flight):`);
  for (const { name, microseconds } of variants) {
    const each = microseconds.map((value) => value.toFixed(0)).join(' ');
    console.log(`${name.padEnd(16)} ${median(microseconds).toFixed(1).padStart(7)} µs   (${each})`);
  }
}

await main();
