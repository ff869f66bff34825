import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Database } from '../../src/db/database.ts';
import type { PhiCipher } from '../../src/crypto/phi.ts';
import {
  WebhookDeliveryWorker,
  type DeliveryWorkerOptions,
} from '../../src/modules/outbound-webhooks/delivery-worker.ts';

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The raw bytes received. */
  body: Buffer;
}

type Handler = (request: http.IncomingMessage, response: http.ServerResponse, received: Received) => void;

/** A local receiver that records every request and answers as the test's handler says (200 by default). */
export class Receiver {
  readonly received: Received[] = [];
  handler: Handler = (_request, response) => void response.end('ok');
  private readonly server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const received = { path: request.url ?? '/', headers: request.headers, body: Buffer.concat(chunks) };
      this.received.push(received);
      this.handler(request, response, received);
    });
  });

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The bodies received, parsed. */
  events(): { event: string; payload: { case: { id: string } | null } & Record<string, unknown> }[] {
    return this.received.map((entry) => JSON.parse(entry.body.toString('utf8')));
  }
}

/** The published verification snippet: the hex HMAC-SHA256 of the raw body, compared in constant time. */
export function verifyCvSignature(rawBody: Buffer, header: string | string[] | undefined, secret: string): boolean {
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(rawBody).digest('hex'), 'utf8');
  const given = Buffer.from(header, 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** A worker with short delays for tests: retries almost at once, a fixed jitter, and the given options. */
export function testWorker(
  db: Database,
  cipher: PhiCipher,
  options: Partial<DeliveryWorkerOptions> = {},
): WebhookDeliveryWorker {
  return new WebhookDeliveryWorker(db, cipher, {
    allowPrivateNetworks: true,
    firstRetryDelaySeconds: 0.001,
    random: () => 0.5,
    ...options,
    maxRetryDelaySeconds: options.maxRetryDelaySeconds ?? options.firstRetryDelaySeconds ?? 0.001,
  });
}

/** Runs the worker until `done` holds, polling (at most `rounds` rounds): retries become due a moment later. */
export async function deliverUntil(
  worker: WebhookDeliveryWorker,
  done: () => boolean | Promise<boolean>,
  rounds = 500,
): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    await worker.drain();
    if (await done()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the deliveries did not reach the expected state');
}
