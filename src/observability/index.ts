import type { Tracer } from '@opentelemetry/api';
import type { ObservabilityConfig } from '../config.ts';
import { Metrics } from './metrics.ts';
import { startTracing } from './tracing.ts';

/**
 * What a process measures and traces (docs/operations.md). Each part is present only when configured:
 * `metrics` with METRICS_TOKEN or METRICS_PORT, `tracer` with OTEL_EXPORTER_OTLP_ENDPOINT. Code that
 * records checks for the part and does nothing without it.
 */
export interface Observability {
  metrics: Metrics | undefined;
  tracer: Tracer | undefined;
  /** Flushes and stops what was started (the trace exporter). */
  shutdown(): Promise<void>;
}

export const NO_OBSERVABILITY: Observability = {
  metrics: undefined,
  tracer: undefined,
  shutdown: async () => undefined,
};

export async function startObservability(config: ObservabilityConfig): Promise<Observability> {
  const metricsOn = config.metricsToken !== undefined || config.metricsPort !== undefined;
  const tracing = config.otlpEndpoint ? await startTracing(config.otlpEndpoint) : undefined;
  return {
    metrics: metricsOn ? new Metrics() : undefined,
    tracer: tracing?.tracer,
    shutdown: async () => tracing?.shutdown(),
  };
}
