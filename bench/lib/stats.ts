export interface LatencySummary {
  p50: number;
  p99: number;
  p99_9: number;
  mean: number;
  max: number;
}

/** Percentiles (nearest rank) of latencies in milliseconds, rounded to 0.01 ms. */
export function summarizeLatencies(latencies: readonly number[]): LatencySummary {
  if (latencies.length === 0) return { p50: 0, p99: 0, p99_9: 0, mean: 0, max: 0 };
  const sorted = Float64Array.from(latencies).sort();
  const at = (quantile: number) => sorted[Math.min(sorted.length - 1, Math.ceil(quantile * sorted.length) - 1)]!;
  const round = (value: number) => Math.round(value * 100) / 100;
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    p99_9: round(at(0.999)),
    mean: round(sum / sorted.length),
    max: round(sorted[sorted.length - 1]!),
  };
}

/** The median of a list of numbers (for repeated runs). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

type Unavailable = { available: false; reason: string };

/**
 * Of two runs of one ceiling, the faster, with both runs' rates in order (`runsPerSecond`). Noise only
 * slows a run down, so the faster is the better estimate of the limit. A run that failed counts only when
 * both did (then the first failure is kept).
 */
export function fasterRun<Run extends { available: true; requestsPerSecond: number }>(
  first: Run | Unavailable,
  second: Run | Unavailable,
): (Run & { runsPerSecond?: number[] }) | Unavailable {
  if (!first.available) return second.available ? second : first;
  if (!second.available) return first;
  const faster = second.requestsPerSecond > first.requestsPerSecond ? second : first;
  return { ...faster, runsPerSecond: [first.requestsPerSecond, second.requestsPerSecond] };
}
