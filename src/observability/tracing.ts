import type { Tracer } from '@opentelemetry/api';
import { version } from '../version.ts';

export interface Tracing {
  tracer: Tracer;
  /** Sends the spans still buffered and stops the exporter. */
  shutdown(): Promise<void>;
}

let registered = false;

/**
 * OpenTelemetry traces, exported by OTLP/HTTP (JSON) to `<endpoint>/v1/traces` in batches. The SDK is
 * imported only here, and this runs only when OTEL_EXPORTER_OTLP_ENDPOINT is set: a server without it
 * loads none of it and pays nothing. The standard OTEL_* variables the SDK reads still apply
 * (OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, OTEL_BSP_*).
 *
 * Spans are made by hand where the work is (src/observability/http.ts, database.ts, gateways.ts) rather
 * than by the auto-instrumentation packages, whose module hooks do not reach the ESM bundle `npm start` runs.
 */
export async function startTracing(endpoint: string, environment: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  const [{ NodeTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
    ]);
  const exporter = new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': environment.OTEL_SERVICE_NAME || 'care360',
      'service.version': version,
    }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  // The context manager (AsyncLocalStorage) and the W3C traceparent propagator are process-wide; the first
  // provider installs them (tests build several apps in one process), and each app keeps its own tracer.
  if (!registered) {
    provider.register();
    registered = true;
  }
  return { tracer: provider.getTracer('care360', version), shutdown: () => provider.shutdown() };
}
