import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { summarizeLatencies } from './stats.ts';

/** One delivery as the receiver saw it. */
export interface Receipt {
  event: string;
  /** performance.timeOrigin + now, in ms since the epoch. */
  receivedAt: number;
  /** The case's createdAt (when its transaction wrote it), in ms since the epoch; NaN when absent. */
  caseCreatedAt: number;
}

/**
 * A partner's endpoint for the benchmark: answers 200 at once, and notes each delivery's event and when it
 * arrived beside when its case was created (the lag from commit to receipt; one clock, one machine).
 */
export async function startWebhookReceiver(): Promise<{
  url: string;
  receipts: Receipt[];
  close(): Promise<void>;
}> {
  const receipts: Receipt[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const receivedAt = performance.timeOrigin + performance.now();
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          event?: string;
          payload?: { case?: { createdAt?: string } };
        };
        receipts.push({
          event: body.event ?? '?',
          receivedAt,
          caseCreatedAt: Date.parse(body.payload?.case?.createdAt ?? ''),
        });
      } catch {
        receipts.push({ event: '?', receivedAt, caseCreatedAt: Number.NaN });
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhook`,
    receipts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Waits until no delivery has arrived for `quietMs` (the worker polls 4 times a second), or `timeoutMs`. */
export async function waitForQuiet(receipts: readonly Receipt[], quietMs: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let count = -1;
  let changedAt = Date.now();
  while (Date.now() < deadline) {
    if (receipts.length !== count) {
      count = receipts.length;
      changedAt = Date.now();
    } else if (Date.now() - changedAt >= quietMs) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The lag from each delivery's case creation to its receipt. */
export function lagOf(receipts: readonly Receipt[]) {
  const lags = receipts
    .filter((receipt) => Number.isFinite(receipt.caseCreatedAt))
    .map((receipt) => receipt.receivedAt - receipt.caseCreatedAt);
  const summary = summarizeLatencies(lags);
  return { p50: summary.p50, p99: summary.p99, max: summary.max, count: lags.length };
}
