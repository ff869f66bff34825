/** What `npm run bench` records (bench/lib/results.ts): the latest run per Node.js version and engine, and a history. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { Measurement } from '../../bench/lib/results.ts';
import {
  historyLine,
  latestResults,
  saveResults,
  type BenchResults,
  type EngineResult,
} from '../../bench/lib/results.ts';

const intake = (okPerSecond: number, p99: number, peakRssMb: number) =>
  ({ okPerSecond, latencyMs: { p50: 1, p99, p99_9: p99 }, peakRssMb }) as unknown as Measurement;

const engine = (name: 'pglite' | 'postgres', rate: number, ceiling: number): EngineResult => ({
  engine: name,
  scenarios: [{ id: 'intake-title', label: 'Intake', status: 'ok', concurrency: intake(rate, 20, 150) }],
  databaseCeiling: { available: true, requestsPerSecond: ceiling } as unknown as EngineResult['databaseCeiling'],
  serverLifetimePeakRssMb: 180.04,
});

const run = (startedAt: string, node: string, engines: EngineResult[]): BenchResults =>
  ({
    kind: 'full',
    startedAt,
    command: 'npm run bench',
    machine: { node, gitCommit: 'abcdef0123456789', loadAverageAtStart: [1, 1, 1] },
    frameworkCeiling: [{ id: 'empty', label: 'empty', concurrency: { requestsPerSecond: 20_000 } }],
    engines,
  }) as unknown as BenchResults;

test('a history line holds the headline figures of each engine', () => {
  const line = historyLine(run('2026-12-03T10:00:00.000Z', 'v20.20.2', [engine('postgres', 1500.04, 2000)]));
  assert.equal(line.commit, 'abcdef0');
  assert.equal(line.command, 'npm run bench');
  assert.deepEqual(line.engines, [
    {
      engine: 'postgres',
      intake: 1500,
      databaseCeiling: 2000,
      frameworkCeiling: 20_000,
      ofDatabase: 0.75,
      ofFramework: 0.075,
      p99: 20,
      peakRssMb: 150,
      lifetimePeakRssMb: 180,
    },
  ]);
});

test('each engine keeps its latest run per Node.js version, and every run leaves a history line', async () => {
  const directory = await mkdtemp(path.join(tmpdir(), 'care360-results-'));
  try {
    await saveResults(
      run('2026-12-03T10:00:00.000Z', 'v20.20.2', [engine('pglite', 700, 900), engine('postgres', 1500, 2000)]),
      directory,
    );
    await saveResults(run('2026-12-03T11:00:00.000Z', 'v20.20.2', [engine('postgres', 1600, 2000)]), directory);
    await saveResults(run('2026-12-03T09:00:00.000Z', 'v24.1.0', [engine('postgres', 1800, 2000)]), directory);
    assert.deepEqual((await readdir(directory)).sort(), [
      'history.jsonl',
      'node20-pglite.json',
      'node20-postgres.json',
      'node24-postgres.json',
    ]);
    const history = (await readFile(path.join(directory, 'history.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(history.length, 3);
    // The newest run is on Node 20: its engines together, PGlite from the earlier run.
    const latest = latestResults('full', directory)!;
    assert.deepEqual(latest.files, ['node20-pglite.json', 'node20-postgres.json']);
    assert.deepEqual(
      latest.results.engines.map((result) => [result.engine, result.scenarios[0]!.concurrency!.okPerSecond]),
      [
        ['pglite', 700],
        ['postgres', 1600],
      ],
    );
    assert.equal(latestResults('growth', directory), undefined);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});
