// A node:test reporter of each test file's wall time (start to end, its process included): one line as each file
// ends, and a table of them all, slowest first, when the run ends. `npm test` (scripts/run-tests.mjs) prints it
// after node's own reporter; the README's Test section keeps the last figures.
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export default async function* timings(source) {
  const started = new Map();
  const rows = [];
  for await (const event of source) {
    const { name, file, nesting } = event.data ?? {};
    // A file's own entry in the run: at the top level, named by its path (absolute on Node 20, relative after).
    if (nesting !== 0 || !file || typeof name !== 'string' || path.resolve(name) !== file) continue;
    if (event.type === 'test:dequeue') started.set(file, performance.now());
    if (event.type === 'test:complete' && started.has(file)) {
      const row = { file: path.relative(process.cwd(), file), seconds: (performance.now() - started.get(file)) / 1000 };
      rows.push(row);
      yield `# ${row.file} ${row.seconds.toFixed(1)} s\n`;
    }
  }
  rows.sort((a, b) => b.seconds - a.seconds);
  const total = rows.reduce((sum, row) => sum + row.seconds, 0);
  yield `| file | seconds |\n|---|---:|\n`;
  for (const row of rows) yield `| ${row.file} | ${row.seconds.toFixed(1)} |\n`;
  yield `| ${rows.length} files, sum | ${total.toFixed(1)} |\n`;
}
