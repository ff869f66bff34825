/**
 * What `npm run bench` records in bench/results/: the latest run per Node.js major version and engine
 * (`node<major>-<engine>.json`, `node<major>-growth.json`), and one line of headline figures per run in
 * `history.jsonl`. Shared by the run (bench/run.ts) and the report (bench/report.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DatabaseCeilingResult } from '../ceilings/database.ts';
import type { LoadResult } from '../load.ts';
import type { SeedResult } from '../seed-cases.ts';
import type { LatencySummary } from './stats.ts';
import { projectRoot } from '../../src/paths.ts';

export const resultsDirectory = path.join(projectRoot, 'bench', 'results');
const HISTORY = 'history.jsonl';

export type Engine = 'pglite' | 'postgres';

export interface Measurement extends LoadResult {
  mode: 'concurrency' | 'rate';
  connections: number;
  targetRate?: number;
  peakRssMb: number;
  peakRssSource: string;
  serverCpuPercent?: number;
}

export interface ScenarioResult {
  id: string;
  label: string;
  status: 'ok' | 'not available' | 'failed';
  reason?: string;
  concurrency?: Measurement;
  rate?: Measurement;
  /** The scenario's own database ceiling (its SQL replayed), measured right after it. */
  databaseCeiling?: DatabaseCeilingResult;
  /** The case list: cases of the organization when it was measured. */
  existingCases?: number;
  /** How the seeded cases were made (the case list). */
  seed?: { cases: number; seconds: number; method: string };
  /** Outbound webhooks under the intake (the intake-webhook scenario). */
  webhooks?: WebhookFigures;
  /** The staff decide-and-next loop (several requests per loop, driven by bench/run.ts itself). */
  loops?: LoopFigures;
}

/** Loops of several requests, `connections` at once: loops per second and the latency of a whole loop. */
export interface LoopFigures {
  connections: number;
  loopsPerSecond: number;
  requestsPerLoop: number;
  latencyMs: LatencySummary;
  /** Loops where a request answered other than 2xx. */
  failed: number;
}

/** What a local receiver saw of the deliveries made under an intake load. */
export interface WebhookFigures {
  /** Deliveries received while the fixed-concurrency load ran and until the queue was empty. */
  deliveries: number;
  /** Deliveries received during the measured seconds of the load, per second. */
  deliveriesPerSecond: number;
  /** deliveries over the time from the first delivery to the last (the load and the drain). */
  overallDeliveriesPerSecond: number;
  /** Seconds from the end of the fixed-concurrency load to the last delivery (the backlog's drain). */
  drainSeconds: number;
  /** Lag from the case's creation (its createdAt) to receipt, at the fixed rate. */
  rateLagMs?: { p50: number; p99: number; max: number; count: number };
  /** The same over the fixed-concurrency run and its drain. */
  concurrencyLagMs?: { p50: number; p99: number; max: number; count: number };
  /** Intakes per second of intake-title (no endpoint) in the same run, for the comparison. */
  intakeWithoutEndpointPerSecond?: number;
}

export interface EngineResult {
  engine: Engine;
  scenarios: ScenarioResult[];
  /**
   * The faster of two runs, one before the engine's scenarios and one after: this host's speed drifts over
   * minutes, and noise only ever slows a run down. `runsPerSecond` holds both, in order.
   */
  databaseCeiling: (DatabaseCeilingResult & { runsPerSecond?: number[] }) | { available: false; reason: string };
  /** VmHWM of the server over its whole life (start-up and every scenario). */
  serverLifetimePeakRssMb?: number;
}

export interface GrowthResult {
  existingCases: number;
  seed?: SeedResult;
  measurement?: Measurement;
  status: 'ok' | 'not available' | 'failed';
  reason?: string;
}

export interface BenchResults {
  kind: 'full' | 'quick' | 'growth';
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: {
    nproc: number;
    cpuModel: string;
    memoryGb: number;
    freeMemoryGbAtStart: number;
    /** 1, 5 and 15-minute load averages: the machine is shared, this says how busy it was. */
    loadAverageAtStart: number[];
    loadAverageAtEnd?: number[];
    /** The commit measured, and files of src/ that differed from it (others may be editing the tree). */
    gitCommit?: string;
    uncommittedSourceFiles?: string[];
    kernel: string;
    node: string;
    postgres?: string;
  };
  options: {
    durationSeconds: number;
    warmupSeconds: number;
    connections: number;
    rateOverride?: number;
    rateFraction: number;
    serverEnvironment: Record<string, string>;
  };
  frameworkCeiling: { id: string; label: string; concurrency?: Measurement; error?: string }[];
  engines: EngineResult[];
  growth?: GrowthResult[];
}

export interface Ratios {
  engine: string;
  intake?: number;
  databaseCeiling?: number;
  frameworkCeiling?: number;
  ofDatabase?: number;
  ofFramework?: number;
  p99?: number;
  peakRssMb?: number;
}

export function ratiosOf(results: BenchResults): Ratios[] {
  const framework = results.frameworkCeiling.find((route) => route.id === 'empty')?.concurrency?.requestsPerSecond;
  return results.engines.map((engine) => {
    const intake = engine.scenarios.find((scenario) => scenario.id === 'intake-title')?.concurrency;
    const database = engine.databaseCeiling.available ? engine.databaseCeiling.requestsPerSecond : undefined;
    const rps = intake?.okPerSecond;
    return {
      engine: engine.engine,
      intake: rps,
      databaseCeiling: database,
      frameworkCeiling: framework,
      ofDatabase: rps !== undefined && database ? rps / database : undefined,
      ofFramework: rps !== undefined && framework ? rps / framework : undefined,
      p99: intake?.latencyMs.p99,
      peakRssMb: intake?.peakRssMb,
    };
  });
}

/** One line of history.jsonl: the figures a run is judged by, per engine. */
export interface HistoryLine {
  startedAt: string;
  kind: BenchResults['kind'];
  command: string;
  commit?: string;
  node: string;
  loadAverageAtStart?: number[];
  engines: (Ratios & { lifetimePeakRssMb?: number })[];
  growth?: { existingCases: number; intakesPerSecond?: number; p99?: number }[];
}

export function historyLine(results: BenchResults): HistoryLine {
  const lifetime = (engine: string) =>
    results.engines.find((candidate) => candidate.engine === engine)?.serverLifetimePeakRssMb;
  const rounded = (value: number | undefined, digits: number) =>
    value === undefined ? undefined : Number(value.toFixed(digits));
  const round = (value: number | undefined) => rounded(value, 1);
  const share = (value: number | undefined) => rounded(value, 3);
  return {
    startedAt: results.startedAt,
    kind: results.kind,
    command: results.command,
    commit: results.machine.gitCommit?.slice(0, 7),
    node: results.machine.node,
    loadAverageAtStart: results.machine.loadAverageAtStart,
    engines: ratiosOf(results).map((ratio) => ({
      ...ratio,
      intake: round(ratio.intake),
      databaseCeiling: round(ratio.databaseCeiling),
      frameworkCeiling: round(ratio.frameworkCeiling),
      ofDatabase: share(ratio.ofDatabase),
      ofFramework: share(ratio.ofFramework),
      peakRssMb: round(ratio.peakRssMb),
      lifetimePeakRssMb: round(lifetime(ratio.engine)),
    })),
    ...(results.growth
      ? {
          growth: results.growth.map((step) => ({
            existingCases: step.existingCases,
            intakesPerSecond: round(step.measurement?.okPerSecond),
            p99: step.measurement?.latencyMs.p99,
          })),
        }
      : {}),
  };
}

const nodeMajor = (results: BenchResults) => /^v?(\d+)/.exec(results.machine.node)?.[1] ?? 'unknown';

/**
 * Records a full or growth run: one file per engine (a growth run's as one), replacing the previous run of
 * that Node.js major version and engine, and its line in the history. Returns the files written.
 */
export async function saveResults(results: BenchResults, directory = resultsDirectory): Promise<string[]> {
  await mkdir(directory, { recursive: true });
  const node = nodeMajor(results);
  const files: [string, BenchResults][] =
    results.kind === 'growth'
      ? [[`node${node}-growth.json`, results]]
      : results.engines.map((engine) => [`node${node}-${engine.engine}.json`, { ...results, engines: [engine] }]);
  for (const [name, content] of files) {
    await writeFile(path.join(directory, name), `${JSON.stringify(content, null, 2)}\n`);
  }
  await appendFile(path.join(directory, HISTORY), `${JSON.stringify(historyLine(results))}\n`);
  return [...files.map(([name]) => name), HISTORY];
}

function read(directory: string, name: string): BenchResults {
  return JSON.parse(readFileSync(path.join(directory, name), 'utf8')) as BenchResults;
}

/**
 * The latest recorded run: for a full run, the engines recorded for the Node.js major version of the newest
 * file, each from its latest run, together (machine and options from the newest).
 */
export function latestResults(
  kind: 'full' | 'growth',
  directory = resultsDirectory,
): { files: string[]; results: BenchResults } | undefined {
  if (!existsSync(directory)) return undefined;
  const pattern = kind === 'growth' ? /^node\d+-growth\.json$/ : /^node\d+-(pglite|postgres)\.json$/;
  const recorded = readdirSync(directory)
    .filter((name) => pattern.test(name))
    .map((name) => ({ name, results: read(directory, name) }))
    .sort((a, b) => a.results.startedAt.localeCompare(b.results.startedAt));
  const newest = recorded.at(-1);
  if (!newest) return undefined;
  const sameNode = recorded.filter((file) => nodeMajor(file.results) === nodeMajor(newest.results));
  const engines = sameNode.flatMap((file) => file.results.engines).sort((a, b) => a.engine.localeCompare(b.engine));
  return {
    files: sameNode.map((file) => file.name).sort(),
    results: kind === 'growth' ? newest.results : { ...newest.results, engines },
  };
}
