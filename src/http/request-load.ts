import type { FastifyInstance } from 'fastify';

/**
 * How many requests the server is answering at this moment. Background work that can wait (webhook sends) gives
 * way while it is high, so a saturated server spends its CPU on the requests in front of it and the background
 * work catches up once the load falls.
 */
export class RequestLoad {
  private answering = 0;

  /** Requests received whose response has not ended (or whose connection has not closed). */
  get inFlight(): number {
    return this.answering;
  }

  /** Counts each of the app's requests from its arrival to the end of its response or of its connection. */
  track(app: FastifyInstance): void {
    app.addHook('onRequest', (_request, reply, done) => {
      this.answering += 1;
      reply.raw.once('close', () => {
        this.answering -= 1;
      });
      done();
    });
  }
}
