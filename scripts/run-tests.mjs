// Runs every test/**/*.test.ts and packages/*/test/**/*.test.ts file with node's test runner (Node 20 has no glob
// in --test).
// Extra arguments are passed to node, e.g. `npm test -- --test-name-pattern=idempotency`.
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

function find(directory) {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) return find(full);
    return entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

const packageTests = readdirSync('packages')
  .map((name) => path.join('packages', name, 'test'))
  .filter((directory) => existsSync(directory));
const files = [...find('test'), ...packageTests.flatMap(find)].sort();
const database = process.env.TEST_DATABASE_URL ? 'PostgreSQL (TEST_DATABASE_URL)' : 'embedded PGlite';
// One seed for the randomised tests of every file (test/support/seed.ts): TEST_SEED=<seed> npm test replays a run.
const seed = process.env.TEST_SEED || String(randomInt(2 ** 31));
console.log(`care360 tests: ${files.length} files on ${database}, Node ${process.version}, TEST_SEED=${seed}`);
const environment = { ...process.env, TEST_SEED: seed };
// Every test file's process (node --test passes its own flags on) keeps PGlite's WebAssembly on V8's baseline
// compiler: its optimizing compile is seconds of CPU per process that a test file never earns back; the processes
// the tests start get the flags of their test process (test/support/process-flags.ts).
const nodeFlags = ['--liftoff-only'];
// On PGlite, the run migrates one database and every test file's fresh databases open a copy of it
// (test/support/pglite-template.ts): a new PGlite's initdb and the migrations, paid once instead of per database.
const templateDirectory = process.env.TEST_DATABASE_URL ? undefined : mkdtempSync(path.join(tmpdir(), 'care360-'));
if (templateDirectory) {
  const template = path.join(templateDirectory, 'migrated-pglite.tar');
  const made = spawnSync(
    process.execPath,
    [...nodeFlags, '--import', 'tsx', 'test/support/pglite-template.ts', template],
    {
      stdio: 'inherit',
    },
  );
  if (made.status !== 0) process.exit(made.status ?? 1);
  environment.CARE360_TEST_PGLITE_TEMPLATE = template;
}
// Node's own reporter (spec on a terminal, TAP otherwise), then each file's wall time, slowest first
// (scripts/test-timings.mjs), unless the arguments name reporters of their own.
const extra = process.argv.slice(2);
const reporters = extra.some((argument) => argument.startsWith('--test-reporter'))
  ? []
  : [
      `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`,
      '--test-reporter-destination=stdout',
      '--test-reporter=./scripts/test-timings.mjs',
      '--test-reporter-destination=stdout',
    ];
const result = spawnSync(
  process.execPath,
  [...nodeFlags, '--import', 'tsx', '--test', ...reporters, ...extra, ...files],
  {
    stdio: 'inherit',
    env: environment,
  },
);
if (templateDirectory) rmSync(templateDirectory, { recursive: true, force: true });
if (result.status !== 0) console.log(`care360 tests failed; the randomised tests replay with TEST_SEED=${seed}`);
process.exit(result.status ?? 1);
