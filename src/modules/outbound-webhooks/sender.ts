import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { checkUrlShape, hostOf, resolveSafely } from './address-safety.ts';

export interface SendOptions {
  /** The whole attempt (resolution, connection, response head and its first bytes) ends by then. */
  timeoutMs: number;
  allowPrivateNetworks: boolean;
  /** How much of the response body is read (and kept); the rest is never read. */
  maxResponseBytes: number;
  /** Cuts the attempt short (the server shutting down). */
  signal?: AbortSignal;
}

export interface SendResult {
  /** A 2xx answered in time. */
  delivered: boolean;
  responseStatus: number | null;
  /** The first `maxResponseBytes` of the response body, as text. */
  responseBody: string | null;
  error: string | null;
  durationMs: number;
}

/**
 * One POST of a webhook body. The host is resolved and every address checked now (not only when the endpoint
 * was saved), and the connection goes to the address checked. Redirects are not followed (a 3xx is a failure),
 * the response is read up to a limit, and one timer bounds the whole attempt, so a slow or endless receiver
 * cannot hold a worker.
 */
export async function sendWebhook(
  target: string,
  body: Buffer,
  headers: Record<string, string>,
  options: SendOptions,
): Promise<SendResult> {
  const started = performance.now();
  const finish = (result: Omit<SendResult, 'durationMs'>): SendResult => ({
    ...result,
    durationMs: Math.round(performance.now() - started),
  });
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`no answer within ${options.timeoutMs / 1000} s`)),
    options.timeoutMs,
  );
  const stop = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', stop, { once: true });
  if (options.signal?.aborted) stop();
  try {
    const url = checkUrlShape(target, options.allowPrivateNetworks);
    const addresses = await abortable(resolveSafely(hostOf(url), options.allowPrivateNetworks), controller.signal);
    const chosen = addresses[0]!;
    const lookup: LookupFunction = (_hostname, lookupOptions, callback) => {
      if ((lookupOptions as { all?: boolean }).all) {
        (callback as unknown as (error: null, addresses: { address: string; family: number }[]) => void)(null, [
          chosen,
        ]);
      } else callback(null, chosen.address, chosen.family);
    };
    const response = await post(url, body, headers, lookup, controller.signal, options.maxResponseBytes);
    const delivered = response.status >= 200 && response.status < 300;
    return finish({
      delivered,
      responseStatus: response.status,
      responseBody: response.body,
      error: delivered
        ? null
        : response.status >= 300 && response.status < 400
          ? `redirect not followed (HTTP ${response.status})`
          : `HTTP ${response.status}`,
    });
  } catch (error) {
    // An abort says why: the time limit, or the server stopping.
    const cause = controller.signal.aborted ? controller.signal.reason : error;
    return finish({ delivered: false, responseStatus: null, responseBody: null, error: describe(cause) });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', stop);
  }
}

/*
 * Connections to receivers are kept open between deliveries (a connection per delivery cost the worker more CPU
 * than the rest of its send; docs/performance.md). A kept connection goes to an address checked when it was
 * opened; every delivery still resolves and checks its host first. An idle connection is closed after 4 s,
 * before Node's own servers close theirs (5 s), so a request rarely meets a connection the receiver closed.
 */
const AGENT_OPTIONS = { keepAlive: true, timeout: 4_000 };
const agents = { 'http:': new http.Agent(AGENT_OPTIONS), 'https:': new https.Agent(AGENT_OPTIONS) };

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
}

function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function post(
  url: URL,
  body: Buffer,
  headers: Record<string, string>,
  lookup: LookupFunction,
  signal: AbortSignal,
  maxResponseBytes: number,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(url, {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': String(body.length),
        'user-agent': 'care360-webhooks',
      },
      lookup,
      agent: url.protocol === 'https:' ? agents['https:'] : agents['http:'],
      signal,
    });
    request.on('error', reject);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let length = 0;
      let settled = false;
      const settle = (drop: boolean) => {
        if (settled) return;
        settled = true;
        // Stop reading: whatever else the receiver sends is dropped with the connection. A response read to its
        // end leaves the connection to the next delivery.
        if (drop) response.destroy();
        resolve({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks).subarray(0, maxResponseBytes).toString('utf8'),
        });
      };
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        if (length >= maxResponseBytes) settle(true);
      });
      response.on('end', () => settle(false));
      // The head was answered: a connection closed mid-body still tells the status.
      response.on('close', () => settle(true));
      response.on('error', (error) => (settled ? undefined : reject(error)));
    });
    request.end(body);
  });
}
