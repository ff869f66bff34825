/**
 * The sample storefront: serves the intake page (public/) and mounts the relay of @care360/client at /care360,
 * which holds the care360 API key on this server. docs: examples/storefront/README.md.
 *
 *   CARE360_API_KEY=c360_... npm run example:storefront
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { nodeHandler } from '@care360/client/node';
import { createRelay } from '@care360/client/relay';

const publicDirectory = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');

/** The page's files: a fixed list, so no request names a file of its own. */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/intake-form.json': { file: 'intake-form.json', type: 'application/json' },
};

/**
 * The page's policy, as Stripe asks for Stripe.js (https://docs.stripe.com/security/guide#content-security-policy);
 * with care360's simulated gateway, the test card element comes from this origin through the relay.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' https://js.stripe.com",
  "connect-src 'self' https://api.stripe.com",
  'frame-src https://js.stripe.com https://hooks.stripe.com',
  "img-src 'self' data: https://*.stripe.com",
  "style-src 'self' 'unsafe-inline'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

export interface StorefrontOptions {
  /** Where care360 listens, from this server: `http://127.0.0.1:3000`. */
  care360Url: string;
  /** The storefront organization's care360 API key. */
  apiKey: string;
  host?: string;
  port?: number;
  /** The origins the page is served under (the relay accepts only these); default: this server's own. */
  origins?: string[];
  /** What the page sells: its name and price in dollars (the original, non-discounted amount). */
  product?: { name: string; price: number };
}

export interface RunningStorefront {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startStorefront(options: StorefrontOptions): Promise<RunningStorefront> {
  const host = options.host ?? '127.0.0.1';
  const product = options.product ?? { name: 'Weight-loss program, first month', price: 600 };
  // The relay is made once the port is known (its default allowed origin is this server's own).
  const mounted: { relay?: ReturnType<typeof nodeHandler> } = {};

  async function page(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://storefront');
    if (url.pathname === '/config.json') {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      response.end(JSON.stringify({ product, relay: '/care360' }));
      return;
    }
    const entry = request.method === 'GET' ? FILES[url.pathname] : undefined;
    if (!entry) {
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end('Not found');
      return;
    }
    response.writeHead(200, {
      'content-type': entry.type,
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-cache',
    });
    response.end(await readFile(path.join(publicDirectory, entry.file)));
  }

  const server = createServer((request, response) => {
    const handled = request.url?.startsWith('/care360/') ? mounted.relay!(request, response) : page(request, response);
    handled.catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 8080, host, resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  mounted.relay = nodeHandler(
    createRelay({
      care360Url: options.care360Url,
      apiKey: options.apiKey,
      allowedOrigins: options.origins ?? [url, `http://localhost:${port}`],
      basePath: '/care360',
    }),
  );
  return {
    url,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const apiKey = process.env.CARE360_API_KEY;
  if (!apiKey) {
    console.error(
      "Set CARE360_API_KEY to the storefront organization's care360 API key (npm start prints a demo key).",
    );
    process.exit(1);
  }
  const storefront = await startStorefront({
    care360Url: process.env.CARE360_URL ?? 'http://127.0.0.1:3000',
    apiKey,
    host: process.env.HOST,
    port: process.env.PORT ? Number(process.env.PORT) : undefined,
    origins: process.env.STOREFRONT_ORIGINS?.split(',').map((origin) => origin.trim()),
  });
  console.error(
    `storefront: ${storefront.url} (relay at ${storefront.url}/care360, care360 at ${process.env.CARE360_URL ?? 'http://127.0.0.1:3000'})`,
  );
}
