import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';

/** How long the counters stay in process memory after Redis failed, before Redis is asked again. */
const OPEN_MS = 30_000;
/** The longest a connection to Redis may take; the first one is waited for at start-up. */
const CONNECT_TIMEOUT_MS = 1_000;

/**
 * The Redis that shares counters between server processes (rate limits, failed authentications), used only
 * while it answers: a Redis that is down or slow must slow no request. Commands go only to a connected
 * client, are never queued while it is disconnected, and time out after 200 ms. The first failure opens the
 * circuit: for the next 30 s the limiters count in this process's memory without asking Redis. After that a
 * PING in the background (no request waits for it) closes the circuit if Redis answers, else keeps it open
 * for another 30 s. Each change is logged once, and `/ready` reports it (`counters`, `redis`).
 */
export class RedisCircuit {
  private openUntil = 0;
  private probing = false;

  constructor(
    readonly client: Redis,
    private readonly log: Pick<FastifyBaseLogger, 'warn' | 'info'>,
    private readonly openMs = OPEN_MS,
  ) {
    // Connection errors (ioredis reconnects by itself, and reports each failed attempt here).
    client.on('error', (error: Error) => this.fail(error));
  }

  /**
   * Waits for the first connection (at most the connect timeout, or until it fails), so that a healthy Redis
   * counts from the first request on; an unreachable one has the circuit open from the start.
   */
  async connect(): Promise<void> {
    if (this.client.status !== 'ready') {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.client.off('ready', done).off('error', done);
          resolve();
        };
        const timer = setTimeout(done, CONNECT_TIMEOUT_MS);
        this.client.once('ready', done).once('error', done);
      });
    }
    if (this.client.status !== 'ready' && this.openUntil === 0) this.fail(new Error(`Redis is ${this.client.status}`));
  }

  /** Whether the shared counters may be asked now. */
  get available(): boolean {
    if (this.openUntil === 0 && this.client.status === 'ready') return true;
    if (this.openUntil === 0) this.fail(new Error(`Redis is ${this.client.status}`));
    else if (Date.now() >= this.openUntil) this.probe();
    return false;
  }

  /** `command` on Redis while it is available, else (and when it fails) `fallback`, at once. */
  use<T>(command: (client: Redis) => Promise<T>, fallback: () => T | Promise<T>): T | Promise<T> {
    if (!this.available) return fallback();
    return command(this.client).catch((error: unknown) => {
      this.fail(error);
      return fallback();
    });
  }

  /** Opens the circuit (or keeps it open) for the next period; logs only the change. */
  fail(error: unknown): void {
    if (this.openUntil === 0) {
      this.log.warn(
        { err: error },
        `Redis unavailable: rate limits and failed authentications are counted in this process only; retried every ${this.openMs / 1000} s`,
      );
    }
    this.openUntil = Date.now() + this.openMs;
  }

  private probe(): void {
    if (this.probing) return;
    this.probing = true;
    const answered = this.client.status === 'ready' ? this.client.ping() : Promise.reject(new Error('not connected'));
    answered
      .then(
        () => {
          this.openUntil = 0;
          this.log.info('Redis available again: counters are shared between processes');
        },
        (error: unknown) => this.fail(error),
      )
      .finally(() => (this.probing = false));
  }
}

/** A Redis client that fails fast (see RedisCircuit): short timeouts, no queue while disconnected. */
export function createRedisClient(url: string): Redis {
  return new Redis(url, {
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: 200,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    // Reconnects in the background, at most every 2 s; no request waits for it.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
  });
}
