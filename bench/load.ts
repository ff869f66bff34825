/**
 * The load generator, run as its own process so it never shares an event loop with the server or the
 * harness: `node --import tsx bench/load.ts <spec.json>`. Drives autocannon with the spec and prints one
 * `RESULT {...}` line. Every request gets a unique value in place of the body's UNIQUE tokens.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { UNIQUE } from './lib/bodies.ts';
import { printResult } from './lib/processes.ts';

export interface LoadSpec {
  url: string;
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  /** JSON template with UNIQUE tokens; absent for GET. */
  body?: string;
  connections: number;
  durationSeconds: number;
  /** Requests per second across all connections; absent: as fast as the connections allow. */
  overallRate?: number;
  warmupSeconds: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  okPerSecond: number;
  /** The median of autocannon's one-second throughput samples (all responses). */
  medianSecondRequests: number;
  latencyMs: { p50: number; p99: number; p99_9: number; mean: number; max: number };
  total: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  durationSeconds: number;
  /** CPU the load generator itself used, as a percentage of one core. */
  loadGeneratorCpuPercent: number;
}

function run(spec: LoadSpec, durationSeconds: number, prefix: string): Promise<autocannon.Result> {
  const parts = spec.body?.split(UNIQUE);
  let counter = 0;
  const request: autocannon.Request = {
    method: spec.method,
    path: spec.path,
    headers: { ...spec.headers, ...(spec.body ? { 'content-type': 'application/json' } : {}) },
  };
  if (parts) {
    request.setupRequest = (current) => {
      counter += 1;
      return { ...current, body: parts.join(`${prefix}-${counter.toString(36)}`) };
    };
  }
  return autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: durationSeconds,
    // At a fixed rate autocannon "corrects" for coordinated omission with an expected interval of
    // ceil(1 / per-connection rate) = 1 ms: every response slower than 1 ms would add one made-up sample per
    // millisecond below its own. Only measured latencies are recorded.
    ...(spec.overallRate ? { overallRate: spec.overallRate, ignoreCoordinatedOmission: true } : {}),
    requests: [request],
    timeout: 30,
  });
}

async function main(): Promise<void> {
  const specPath = process.argv[2];
  if (!specPath) throw new Error('usage: load.ts <spec.json>');
  const spec = JSON.parse(readFileSync(specPath, 'utf8')) as LoadSpec;
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  if (spec.warmupSeconds > 0) await run(spec, spec.warmupSeconds, `${runId}w`);
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const result = await run(spec, spec.durationSeconds, `${runId}m`);
  const cpu = process.cpuUsage(cpuBefore);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  const total = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'];
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats ?? {}).map(([code, stats]) => [code, stats.count ?? 0]),
  );
  const output: LoadResult = {
    requestsPerSecond: total / result.duration,
    okPerSecond: result['2xx'] / result.duration,
    medianSecondRequests: result.requests.p50,
    latencyMs: {
      p50: result.latency.p50,
      p99: result.latency.p99,
      p99_9: result.latency.p99_9,
      mean: result.latency.mean,
      max: result.latency.max,
    },
    total,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    durationSeconds: result.duration,
    loadGeneratorCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 100),
  };
  printResult(output);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
