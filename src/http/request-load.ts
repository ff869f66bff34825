import type { FastifyInstance } from 'fastify';

/**
 * How busy the server is with requests. Background work that can wait (webhook sends) gives way while the server
 * has been saturated for a while, so the requests keep the CPU and the background work catches up once the load
 * falls. A burst of requests that leaves the server idle between bursts is not saturation: the share of recent time
 * spent at or over `busyAt` requests in flight says which is which.
 */
export class RequestLoad {
  private answering = 0;
  /** The share of recent time at or over `busyAt`, as of `updatedAt` (on `now`'s clock). */
  private share = 0;
  private updatedAt: number;

  /**
   * @param busyAt requests in flight from which the server counts as busy at that moment
   * @param windowMs the time constant of the busy share (an exponentially weighted average over time)
   * @param now the clock, in ms (tests give their own)
   */
  constructor(
    private readonly busyAt: number,
    private readonly windowMs = 1000,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.updatedAt = now();
  }

  /** Requests received whose response has not ended (or whose connection has not closed). */
  get inFlight(): number {
    return this.answering;
  }

  /** The share of the last `windowMs` or so (0 to 1) that the server spent at or over `busyAt` requests in flight. */
  busyShare(): number {
    this.advance(this.now());
    return this.share;
  }

  /** Counts each of the app's requests from its arrival to the end of its response or of its connection. */
  track(app: FastifyInstance): void {
    app.addHook('onRequest', (_request, reply, done) => {
      this.change(1);
      reply.raw.once('close', () => this.change(-1));
      done();
    });
  }

  private change(by: 1 | -1): void {
    const wasBusy = this.answering >= this.busyAt;
    this.answering += by;
    if (wasBusy !== this.answering >= this.busyAt) this.advance(this.now(), wasBusy);
  }

  /** Brings the share to `now`, the server having been busy (or not) all the time since the last update. */
  private advance(now: number, busy = this.answering >= this.busyAt): void {
    const kept = Math.exp(-(now - this.updatedAt) / this.windowMs);
    this.share = busy ? 1 - (1 - this.share) * kept : this.share * kept;
    this.updatedAt = now;
  }
}
