import type { AuditEvent } from './repository.ts';

/** Where events go; the repository in production, a stand-in in tests. */
export interface AuditEventStore {
  insert(event: AuditEvent): Promise<void>;
}

/** Called when an event could not be written: with what is safe to log (no PHI, no secrets). */
export type AuditFailureReporter = (
  failure: { action: string; requestId: string; code: string | undefined; message: string },
  error: unknown,
) => void;

/** Writes still in flight beyond this are dropped (and reported) rather than held in memory. */
const MAX_PENDING_WRITES = 10_000;

/**
 * Records audit events off the request's critical path: `record` starts the write and returns at
 * once; a failed write is reported, never thrown. `flush` waits for the writes in flight (tests, and
 * a graceful shutdown before the database closes).
 */
export class AuditLog {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly store: AuditEventStore,
    private readonly onFailure: AuditFailureReporter = () => undefined,
  ) {}

  record(event: AuditEvent, onFailure: AuditFailureReporter = this.onFailure): void {
    if (this.pending.size >= MAX_PENDING_WRITES) {
      onFailure(
        { action: event.action, requestId: event.requestId, code: 'AUDIT_BACKLOG', message: 'too many writes pending' },
        undefined,
      );
      return;
    }
    let write: Promise<void>;
    try {
      write = this.store.insert(event);
    } catch (error) {
      write = Promise.reject(error);
    }
    const tracked: Promise<void> = write
      .catch((error: unknown) => {
        const { code, message } = describe(error);
        onFailure({ action: event.action, requestId: event.requestId, code, message }, error);
      })
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** Resolves when every write started so far has finished (written or reported). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}

function describe(error: unknown): { code: string | undefined; message: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : undefined, message: error.message };
  }
  return { code: undefined, message: 'unknown error' };
}
