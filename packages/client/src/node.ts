/**
 * The relay (and any web-standard handler) on Node's http server, Express or Fastify: converts the IncomingMessage
 * to a Request, and writes the Response back.
 *
 *   import { createRelay } from '@care360/client/relay';
 *   import { nodeHandler } from '@care360/client/node';
 *   http.createServer(nodeHandler(createRelay({ ... })));         // or app.use(nodeHandler(relay)) in Express
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RelayContext } from './relay.ts';

type WebHandler = (request: Request, context?: RelayContext) => Promise<Response>;

/** A Request for a Node request: its URL (Express's `originalUrl` where mounted under a path), headers and body. */
export function requestFromNode(request: IncomingMessage): Request {
  const encrypted = Boolean((request.socket as TLSSocket).encrypted);
  const path = (request as IncomingMessage & { originalUrl?: string }).originalUrl ?? request.url ?? '/';
  const url = new URL(path, `${encrypted ? 'https' : 'http'}://${request.headers.host ?? 'localhost'}`);
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  const method = request.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  return new Request(url, {
    method,
    headers,
    ...(hasBody ? { body: Readable.toWeb(request) as ReadableStream, duplex: 'half' } : {}),
  } as RequestInit);
}

/** Writes a Response to a Node response, streaming its body. */
export async function sendResponse(response: Response, target: ServerResponse): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  target.writeHead(response.status, headers);
  if (!response.body) {
    target.end();
    return;
  }
  await pipeline(Readable.fromWeb(response.body as Parameters<typeof Readable.fromWeb>[0]), target);
}

/**
 * A Node request listener for a web-standard handler, with the socket address as the visitor's `clientAddress`
 * (give `clientAddress` yourself behind a proxy: `nodeHandler(relay, (req) => req.headers['x-real-ip'])`).
 */
export function nodeHandler(
  handler: WebHandler,
  clientAddress: (request: IncomingMessage) => string | undefined = (request) => request.socket.remoteAddress,
): (request: IncomingMessage, response: ServerResponse) => Promise<void> {
  return async (request, response) => {
    try {
      const answer = await handler(requestFromNode(request), { clientAddress: clientAddress(request) });
      await sendResponse(answer, response);
    } catch {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ success: false, error: 'Relay error' }));
    }
  };
}
