import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { PhiCipher } from '../../crypto/phi.ts';
import type { Database, Queryable } from '../../db/database.ts';
import type { Metrics } from '../../observability/metrics.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import {
  WebhookQueue,
  type AttemptOutcome,
  type ClaimedDelivery,
  type DocumentFormat,
  type WebhookDeliveryRow,
} from './repository.ts';
import { sendWebhook } from './sender.ts';
import { signatureHeaders } from './signing.ts';
import { BackgroundLoop } from '../../background-loop.ts';

/** What the payload renderer is told about one delivery. */
export interface RenderRequest {
  organizationId: string;
  /** The endpoint the payload is for (signed attachment links are issued to it). */
  endpointId: string;
  caseId: string | null;
  event: string;
  eventId: string;
  subject: Record<string, string>;
  /** The endpoint's payload options. */
  sendFullCaseData: boolean;
  documentFormat: DocumentFormat;
}

/**
 * Renders the `payload` of each delivery of a claimed batch (`{ case, <event objects> }`) when it is first sent,
 * in the order asked, or the Error that kept one from being rendered. The case lifecycle provides the real one
 * (over its case serializer); the default names the case and the event's objects by id.
 */
export type WebhookPayloadRenderer = (
  db: Queryable,
  requests: RenderRequest[],
) => Promise<(Record<string, unknown> | Error)[]>;

export const renderReferences: WebhookPayloadRenderer = async (_db, requests) =>
  requests.map((request) => ({
    case: request.caseId === null ? null : { id: request.caseId, organizationId: request.organizationId },
    ...request.subject,
  }));

export interface WorkerLog {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface DeliveryWorkerOptions {
  allowPrivateNetworks: boolean;
  render?: WebhookPayloadRenderer;
  /** Deliveries in flight at once (each to its own case). */
  concurrency?: number;
  /** How often an idle worker looks for due deliveries. */
  pollIntervalMs?: number;
  timeoutMs?: number;
  /** The first retry's delay; each further one doubles, up to `maxRetryDelaySeconds`, with jitter. */
  firstRetryDelaySeconds?: number;
  maxRetryDelaySeconds?: number;
  /** A delivery still failing this long after its event is kept as failed. */
  giveUpAfterSeconds?: number;
  /** An endpoint whose every delivery failed this long is disabled. */
  disableAfterSeconds?: number;
  metrics?: Metrics;
  /** Where each attempt to send a case (PHI) is recorded, naming the endpoint. */
  auditLog?: AuditLog;
  log?: WorkerLog;
  /** Jitter's random source (tests give a fixed one). */
  random?: () => number;
  /**
   * True while the server is busy answering requests (src/http/request-load.ts). Requests come first: while it
   * holds, the worker claims at most once per `busyClaimIntervalMs`, so deliveries fall behind while the server is
   * saturated and catch up once the load falls.
   */
  busy?: () => boolean;
  busyClaimIntervalMs?: number;
}

const DEFAULTS = {
  concurrency: 64,
  pollIntervalMs: 250,
  timeoutMs: 10_000,
  firstRetryDelaySeconds: 10,
  maxRetryDelaySeconds: 6 * 3600,
  giveUpAfterSeconds: 3 * 24 * 3600,
  disableAfterSeconds: 24 * 3600,
  busyClaimIntervalMs: 1000,
};
const MAX_RESPONSE_BYTES = 1024;

/**
 * Sends queued deliveries: claims due ones (src/modules/outbound-webhooks/repository.ts `claim`), sends each
 * outside any transaction, and records the attempt and its outcome. A claim is a lease well beyond the send's
 * time limit, so no two workers (in one process or several) send one delivery at once, and a delivery claimed
 * by a process that died is taken again once its lease has run out: at least once.
 */
export class WebhookDeliveryWorker {
  private readonly settings: typeof DEFAULTS;
  private readonly render: WebhookPayloadRenderer;
  private readonly random: () => number;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly loop: BackgroundLoop;
  private log: WorkerLog | undefined;
  /** Outcomes waiting for the next recording statement, and the one under way. */
  private outcomes: { outcome: AttemptOutcome; done: (error?: unknown) => void }[] = [];
  private recording: Promise<void> | undefined;
  /** When the loop last claimed (performance.now()). */
  private lastClaimAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly db: Database,
    private readonly cipher: PhiCipher,
    private readonly options: DeliveryWorkerOptions,
  ) {
    this.settings = {
      concurrency: options.concurrency ?? DEFAULTS.concurrency,
      pollIntervalMs: options.pollIntervalMs ?? DEFAULTS.pollIntervalMs,
      timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
      firstRetryDelaySeconds: options.firstRetryDelaySeconds ?? DEFAULTS.firstRetryDelaySeconds,
      maxRetryDelaySeconds: options.maxRetryDelaySeconds ?? DEFAULTS.maxRetryDelaySeconds,
      giveUpAfterSeconds: options.giveUpAfterSeconds ?? DEFAULTS.giveUpAfterSeconds,
      disableAfterSeconds: options.disableAfterSeconds ?? DEFAULTS.disableAfterSeconds,
      busyClaimIntervalMs: options.busyClaimIntervalMs ?? DEFAULTS.busyClaimIntervalMs,
    };
    this.render = options.render ?? renderReferences;
    this.random = options.random ?? Math.random;
    this.log = options.log;
    // A full batch is claimed again at once; otherwise the next claim waits for a free slot or the interval.
    this.loop = new BackgroundLoop(
      async () => {
        if (this.givingWay()) return false;
        this.lastClaimAt = performance.now();
        const free = this.settings.concurrency - this.inFlight.size;
        const claimed = await this.deliverDue();
        return claimed > 0 && claimed === free;
      },
      { intervalMs: this.settings.pollIntervalMs, failureMessage: 'claiming webhook deliveries failed; trying again' },
    );
    // Every send in flight listens for the stop.
    setMaxListeners(this.settings.concurrency + 10, this.loop.signal);
  }

  /** Whether the loop skips a claim: the server is busy and the loop claimed less than an interval ago. */
  private givingWay(): boolean {
    if (this.options.busy?.() !== true) return false;
    return performance.now() - this.lastClaimAt < this.settings.busyClaimIntervalMs;
  }

  /** The lease of a claim: longer than any send can take. */
  private get leaseSeconds(): number {
    return Math.ceil(this.settings.timeoutMs / 1000) * 3 + 30;
  }

  /** Starts sending (the server's logger, when the services were built before it). */
  start(log?: WorkerLog): void {
    this.log = log ?? this.log;
    this.loop.start(this.log);
  }

  /** Stops claiming, cuts the sends in flight short (recorded as failed, to be retried) and waits for them. */
  async stop(): Promise<void> {
    await this.loop.stop(new Error('the server is shutting down'));
    await Promise.all(this.inFlight);
  }

  /**
   * Claims what is due (up to the free slots) and sends it; answers how many were claimed. The batch's new
   * bodies are rendered and sealed together before any is sent.
   */
  async deliverDue(): Promise<number> {
    const free = this.settings.concurrency - this.inFlight.size;
    if (free <= 0 || this.loop.signal.aborted) return 0;
    const claimed = await new WebhookQueue(this.db).claim(free, this.leaseSeconds);
    if (claimed.length === 0) return 0;
    const bodies = this.bodiesOf(claimed);
    claimed.forEach((delivery, index) => {
      const work: Promise<void> = bodies
        .then((all) => this.deliver(delivery, all[index]!))
        .catch((error: unknown) => this.log?.error({ err: error }, 'webhook delivery failed unexpectedly'))
        .finally(() => {
          this.inFlight.delete(work);
          this.loop.wake();
        });
      this.inFlight.add(work);
    });
    return claimed.length;
  }

  /**
   * Sends everything due until nothing is left (tests). Only a claim that found nothing while nothing was in
   * flight ends it: a send that ends during a claim may have made its case's next event due after the claim read
   * the queue.
   */
  async drain(): Promise<void> {
    for (;;) {
      const busy = this.inFlight.size > 0;
      const claimed = await this.deliverDue();
      if (claimed === 0 && !busy) return;
      if (this.inFlight.size > 0) await Promise.race(this.inFlight);
    }
  }

  private async deliver(delivery: ClaimedDelivery, body: Buffer | Error): Promise<void> {
    if (body instanceof Error) {
      const failure = { delivered: false, durationMs: 0, responseStatus: null, responseBody: null };
      await this.record(delivery, { ...failure, error: body.message });
      return;
    }
    const secret = await this.cipher.decryptText(delivery.endpoint_secret_sealed);
    const headers = signatureHeaders(secret, delivery.event_id, body);
    const result = await sendWebhook(delivery.endpoint_url, body, headers, {
      timeoutMs: this.settings.timeoutMs,
      allowPrivateNetworks: this.options.allowPrivateNetworks,
      maxResponseBytes: MAX_RESPONSE_BYTES,
      signal: this.loop.signal,
    });
    this.audit(delivery, result);
    await this.record(delivery, result);
  }

  /**
   * A payload about a case carries the case's PHI (its submitter at least): each attempt to send one is an
   * access to PHI, recorded with the endpoint it went to (whether or not the receiver accepted it).
   */
  private audit(delivery: WebhookDeliveryRow, result: { delivered: boolean; responseStatus: number | null }): void {
    if (!this.options.auditLog || delivery.case_id === null) return;
    this.options.auditLog.record(
      {
        id: randomUUID(),
        organizationId: delivery.organization_id,
        apiKeyId: null,
        action: 'case.webhook',
        resourceType: 'case',
        resourceId: delivery.case_id,
        outcome: result.delivered ? 'success' : 'failure',
        statusCode: result.responseStatus ?? 0,
        requestId: `webhook ${delivery.endpoint_id} delivery ${delivery.id}`,
        clientAddress: null,
        occurredAt: new Date(),
      },
      (failure) => this.log?.warn({ failure }, 'webhook delivery audit event not written'),
    );
  }

  /**
   * Each delivery's body as first rendered, or why it has none: the bodies of first attempts are rendered in one
   * batch and sealed in one statement before any is sent.
   */
  private async bodiesOf(claimed: ClaimedDelivery[]): Promise<(Buffer | Error)[]> {
    const bodies = await Promise.all(
      claimed.map(async (delivery): Promise<Buffer | Error | undefined> => {
        if (!delivery.body_sealed) return undefined;
        try {
          return Buffer.from(await this.cipher.decryptText(delivery.body_sealed), 'utf8');
        } catch (error) {
          return asError(error);
        }
      }),
    );
    const fresh = claimed.flatMap((delivery, index) => (bodies[index] === undefined ? [index] : []));
    if (fresh.length === 0) return bodies as (Buffer | Error)[];
    try {
      const payloads = await this.render(
        this.db,
        fresh.map((index) => {
          const delivery = claimed[index]!;
          return {
            organizationId: delivery.organization_id,
            endpointId: delivery.endpoint_id,
            caseId: delivery.case_id,
            event: delivery.event,
            eventId: delivery.event_id,
            subject: delivery.subject,
            sendFullCaseData: delivery.endpoint_send_full_case_data,
            documentFormat: delivery.endpoint_document_format,
          };
        }),
      );
      const sealed: { deliveryId: string; bodySealed: string }[] = [];
      for (const [position, index] of fresh.entries()) {
        const payload = payloads[position];
        if (payload === undefined || payload instanceof Error) {
          bodies[index] = payload ?? new Error('no payload rendered');
          continue;
        }
        const text = JSON.stringify({ event: claimed[index]!.event, payload });
        sealed.push({ deliveryId: claimed[index]!.id, bodySealed: await this.cipher.encryptText(text) });
        bodies[index] = Buffer.from(text, 'utf8');
      }
      await new WebhookQueue(this.db).saveBodies(sealed);
    } catch (error) {
      for (const index of fresh) bodies[index] = asError(error);
    }
    return bodies as (Buffer | Error)[];
  }

  /** The attempt and its outcome, recorded with the others that ended meanwhile (one statement for them all). */
  private async record(
    delivery: ClaimedDelivery,
    result: {
      delivered: boolean;
      durationMs: number;
      responseStatus: number | null;
      responseBody: string | null;
      error: string | null;
    },
  ): Promise<void> {
    const retryIn = result.delivered ? null : this.retryDelaySeconds(delivery);
    await new Promise<void>((resolve, reject) => {
      this.outcomes.push({
        outcome: {
          deliveryId: delivery.id,
          endpointId: delivery.endpoint_id,
          delivered: result.delivered,
          durationMs: result.durationMs,
          responseStatus: result.responseStatus,
          responseBody: result.responseBody,
          error: result.delivered ? null : (result.error ?? 'failed'),
          retryInSeconds: retryIn,
        },
        done: (error) => (error === undefined ? resolve() : reject(asError(error))),
      });
      this.recording ??= this.recordWaiting();
    });
    if (result.delivered) {
      this.options.metrics?.webhookDelivery('delivered', (Date.now() - delivery.created_at.getTime()) / 1000);
    } else {
      this.options.metrics?.webhookDelivery(retryIn === null ? 'failed' : 'retrying');
    }
  }

  /**
   * Records the waiting outcomes in one statement, then those that ended during it, until none waits: one
   * statement at a time, each for as many outcomes as there are (group commit).
   */
  private async recordWaiting(): Promise<void> {
    try {
      while (this.outcomes.length > 0) {
        const batch = this.outcomes;
        this.outcomes = [];
        try {
          const disabled = await new WebhookQueue(this.db).recordOutcomes(
            batch.map((entry) => entry.outcome),
            this.settings.disableAfterSeconds,
          );
          for (const webhookId of disabled) {
            this.log?.warn({ webhookId }, 'webhook endpoint disabled: failing for a day');
          }
          for (const entry of batch) entry.done();
        } catch (error) {
          for (const entry of batch) entry.done(error);
        }
      }
    } finally {
      this.recording = undefined;
    }
  }

  /** Exponential backoff with jitter (half to all of the step); null once the event is too old to retry. */
  private retryDelaySeconds(delivery: WebhookDeliveryRow): number | null {
    const { firstRetryDelaySeconds, maxRetryDelaySeconds, giveUpAfterSeconds } = this.settings;
    const step = Math.min(firstRetryDelaySeconds * 2 ** Math.max(0, delivery.attempts - 1), maxRetryDelaySeconds);
    const delay = step * (0.5 + this.random() / 2);
    const age = (Date.now() - delivery.created_at.getTime()) / 1000;
    return age + delay > giveUpAfterSeconds ? null : delay;
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
