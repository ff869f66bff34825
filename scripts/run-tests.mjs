// Runs every test/**/*.test.ts and packages/*/test/**/*.test.ts file with node's test runner (Node 20 has no glob
// in --test).
// Extra arguments are passed to node, e.g. `npm test -- --test-name-pattern=idempotency`.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
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
console.log(`care360 tests: ${files.length} files on ${database}, Node ${process.version}`);
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...process.argv.slice(2), ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
