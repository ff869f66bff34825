import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every metric the server exports, in one place (Prometheus text format through prom-client). A process
 * builds one `Metrics` when METRICS_TOKEN or METRICS_PORT is set, and none otherwise: with neither set, no
 * hook records anything and nothing is measured.
 *
 * Labels are low-cardinality words only: a route template (`/api/v1/cases/:caseId`, never the URL), a
 * method, a status code, a SQL statement's summary (`insert audit_events`), a gateway name and operation.
 * Never an id, a key, an email, an amount or anything a request sent.
 *
 * Adding metrics for new code: declare them here as fields registered in `this.registry`, with a method that
 * records an event (as `webhookDelivery`) or a gauge whose `collect` reads the current value when Prometheus
 * scrapes (as `auditBacklog` does), then call it from the code that does the work. List them in
 * docs/operations.md ("What to watch").
 */
export class Metrics {
  readonly registry = new Registry();

  private readonly httpRequestDuration = new Histogram({
    name: 'care360_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route template, method and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  private readonly databaseQueryDuration = new Histogram({
    name: 'care360_db_query_duration_seconds',
    help: 'Time of one SQL statement, by its summary (operation and first table) and outcome',
    labelNames: ['statement', 'outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });

  private readonly databaseTransactionDuration = new Histogram({
    name: 'care360_db_transaction_duration_seconds',
    help: 'Time of one database transaction, from taking a connection to commit or rollback',
    labelNames: ['outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });

  private readonly gatewayCallDuration = new Histogram({
    name: 'care360_payment_gateway_request_duration_seconds',
    help: 'Time of one call to a payment gateway, by gateway, operation and outcome (ok, declined, rejected, unavailable, error)',
    labelNames: ['gateway', 'operation', 'outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30],
    registers: [this.registry],
  });

  private readonly webhookDeliveries = new Counter({
    name: 'care360_webhook_deliveries_total',
    help: 'Outbound webhook delivery attempts by outcome: delivered, retrying (failed, tried again later), failed (given up)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  private readonly webhookDeliveryLag = new Histogram({
    name: 'care360_webhook_delivery_lag_seconds',
    help: 'Time from a webhook event being queued (its change committed) to the 2xx of its delivery',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400],
    registers: [this.registry],
  });

  constructor() {
    // process_resident_memory_bytes, nodejs_heap_size_used_bytes, nodejs_eventloop_lag_p99_seconds, GC, ...
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
  }

  httpRequest(method: string, route: string, statusCode: number, seconds: number): void {
    this.httpRequestDuration.observe({ method, route, status_code: statusCode }, seconds);
  }

  databaseQuery(statement: string, outcome: 'ok' | 'error', seconds: number): void {
    this.databaseQueryDuration.observe({ statement, outcome }, seconds);
  }

  databaseTransaction(outcome: 'commit' | 'rollback', seconds: number): void {
    this.databaseTransactionDuration.observe({ outcome }, seconds);
  }

  gatewayCall(gateway: string, operation: string, outcome: GatewayOutcome, seconds: number): void {
    this.gatewayCallDuration.observe({ gateway, operation, outcome }, seconds);
  }

  /** The database connection pool (PostgreSQL), read when scraped. */
  databasePool(read: () => { size: number; total: number; idle: number; waiting: number }): void {
    new Gauge({
      name: 'care360_db_pool_connections',
      help: 'Database pool: its size (DATABASE_POOL_SIZE), connections open, idle, and queries waiting for one',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const pool = read();
        this.set({ state: 'max' }, pool.size);
        this.set({ state: 'open' }, pool.total);
        this.set({ state: 'idle' }, pool.idle);
        this.set({ state: 'waiting' }, pool.waiting);
      },
    });
  }

  /** The audit events recorded and not yet written (src/modules/audit/audit-log.ts), read when scraped. */
  auditBacklog(read: () => number): void {
    new Gauge({
      name: 'care360_audit_backlog_events',
      help: 'Audit events recorded and not yet written to the database (dropped past 10,000)',
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  webhookDelivery(outcome: 'delivered' | 'retrying' | 'failed', lagSeconds?: number): void {
    this.webhookDeliveries.inc({ outcome });
    if (lagSeconds !== undefined) this.webhookDeliveryLag.observe(lagSeconds);
  }

  /** Outbound webhook deliveries waiting to be sent (a count in the database), read when scraped. */
  webhookQueueDepth(read: () => Promise<number>): void {
    new Gauge({
      name: 'care360_webhook_queue_depth',
      help: 'Outbound webhook deliveries waiting to be sent (due now or retrying later)',
      registers: [this.registry],
      async collect() {
        this.set(await read());
      },
    });
  }

  /** The Prometheus text exposition, and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

export type GatewayOutcome = 'ok' | 'declined' | 'rejected' | 'unavailable' | 'error';
