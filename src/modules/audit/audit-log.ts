import type { AuditEvent } from './repository.ts';

/** Where events go; the repository in production, a stand-in in tests. */
export interface AuditEventStore {
  /** Writes all the events in one statement: all of them are written, or none. */
  insertMany(events: readonly AuditEvent[]): Promise<void>;
}

/** Called when an event could not be written: with what is safe to log (no PHI, no secrets). */
export type AuditFailureReporter = (
  failure: { action: string; requestId: string; code: string | undefined; message: string },
  error: unknown,
) => void;

/** Events waiting beyond this are dropped (and reported) rather than held in memory. */
const MAX_QUEUED_EVENTS = 10_000;
/** The most events one statement writes (11 parameters each, far below PostgreSQL's 65,535). */
const MAX_BATCH = 500;

interface QueuedEvent {
  event: AuditEvent;
  onFailure: AuditFailureReporter;
}

/**
 * Records audit events off the request's critical path: `record` queues the event and returns at
 * once; an event that cannot be written is reported, never thrown. One write is in flight at a time: an event recorded
 * while the database is idle is written at once, alone; events recorded while a write is in flight go
 * together in the next one. Under load, one statement (and one commit) then carries many events
 * instead of one each, and the audit log costs the database a small fraction of the requests it
 * records. `flush` waits until everything recorded so far is written or reported (tests, and a
 * graceful shutdown before the database closes).
 */
export class AuditLog {
  private queue: QueuedEvent[] = [];
  private writing: Promise<void> | null = null;
  private inFlight = 0;

  constructor(
    private readonly store: AuditEventStore,
    private readonly onFailure: AuditFailureReporter = () => undefined,
  ) {}

  record(event: AuditEvent, onFailure: AuditFailureReporter = this.onFailure): void {
    if (this.queue.length >= MAX_QUEUED_EVENTS) {
      onFailure(
        { action: event.action, requestId: event.requestId, code: 'AUDIT_BACKLOG', message: 'too many writes pending' },
        undefined,
      );
      return;
    }
    this.queue.push({ event, onFailure });
    // Started on a later microtask: the events of this tick go together, and a store that throws
    // synchronously cannot finish the drain before `writing` is set.
    this.writing ??= Promise.resolve().then(() => this.drain());
  }

  /** Events recorded and not yet written or reported (the metric care360_audit_backlog_events). */
  get backlog(): number {
    return this.queue.length + this.inFlight;
  }

  /** Resolves when every event recorded so far has been written or reported. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Writes batches until the queue is empty; never rejects. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        this.inFlight = batch.length;
        await this.write(batch);
      }
    } finally {
      this.inFlight = 0;
      this.writing = null;
    }
  }

  /**
   * One statement for the batch. When it fails, the events are written again one by one: a single event the
   * database refuses fails the whole statement, and must not take the other events (other requests, other
   * organizations) with it. Only an event that fails alone is reported.
   */
  private async write(batch: QueuedEvent[]): Promise<void> {
    try {
      await this.store.insertMany(batch.map((queued) => queued.event));
      return;
    } catch (error) {
      if (batch.length === 1) return report(batch[0]!, error);
    }
    for (const queued of batch) {
      try {
        await this.store.insertMany([queued.event]);
      } catch (error) {
        report(queued, error);
      }
    }
  }
}

function report({ event, onFailure }: QueuedEvent, error: unknown): void {
  const { code, message } = describe(error);
  onFailure({ action: event.action, requestId: event.requestId, code, message }, error);
}

function describe(error: unknown): { code: string | undefined; message: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : undefined, message: error.message };
  }
  return { code: undefined, message: 'unknown error' };
}
