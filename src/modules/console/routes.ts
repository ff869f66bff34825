import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { sendError } from '../../http/envelopes.ts';
import { API_HEADERS } from '../../http/security-headers.ts';
import { projectPath } from '../../paths.ts';

/** Where the console is served, and where `npm run build` (scripts/build.ts) writes its bundle. */
export const CONSOLE_PATH = '/console';
export const consoleBundleDirectory = (): string => projectPath('dist', 'console');

/** The bundle's files, by the name the page asks for. */
const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/**
 * The encoding of the bundle to send: brotli or gzip (written by the build beside each file) when the client takes
 * it, else none. A coding listed with q=0 is refused.
 */
export function preferredEncoding(header: string | string[] | undefined): 'br' | 'gzip' | null {
  const accepted = new Set(
    String(header ?? '')
      .split(',')
      .map((part) => part.trim().split(';'))
      .filter(([, ...parameters]) => !parameters.some((parameter) => /^\s*q\s*=\s*0(\.0*)?\s*$/.test(parameter)))
      .map(([coding]) => coding!.trim().toLowerCase()),
  );
  return accepted.has('br') ? 'br' : accepted.has('gzip') ? 'gzip' : null;
}

/**
 * The console's policy: scripts only from this origin (no inline script, no eval), styles from this origin plus
 * the `<style>` elements the component library writes, which carry this page's nonce; the API calls stay on this
 * server. No `upgrade-insecure-requests`, so it also works over plain HTTP under any host name, as /docs does.
 */
export function consoleContentSecurityPolicy(styleNonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'nonce-${styleNonce}'`,
    "img-src 'self' data: blob:",
    // A case's PDF, fetched through its staff link and previewed from memory (a blob: URL), never from elsewhere.
    'frame-src blob:',
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The one page: no inline script, the style nonce handed to the component library through a meta element. */
function page(styleNonce: string): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="csp-style-nonce" content="${styleNonce}">
    <title>care360 console</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="${CONSOLE_PATH}/assets/app.css">
    <script type="module" src="${CONSOLE_PATH}/assets/app.js"></script>
  </head>
  <body>
    <div id="root"></div>
  </body>
</html>
`;
}

/**
 * The web console (docs/console.md): one HTML page for every path under /console (the app routes in the browser)
 * and its bundle. Its answers carry the console's own policy instead of the API answers' (security-headers.ts).
 * The page is never stored (it carries a fresh nonce); the bundle holds no data, so it is revalidated only.
 */
export function consoleRoutes(): FastifyPluginAsync {
  return async (app) => {
    const sendPage = async (_request: unknown, reply: import('fastify').FastifyReply) => {
      const nonce = randomBytes(16).toString('base64');
      return reply
        .header('content-type', 'text/html; charset=utf-8')
        .header('content-security-policy', consoleContentSecurityPolicy(nonce))
        .header('cache-control', 'no-store')
        .header('referrer-policy', 'no-referrer')
        .header('x-frame-options', 'DENY')
        .send(page(nonce));
    };
    app.get(CONSOLE_PATH, { schema: { hide: true } }, sendPage);
    app.get(`${CONSOLE_PATH}/*`, { schema: { hide: true } }, sendPage);

    app.get<{ Params: { file: string } }>(
      `${CONSOLE_PATH}/assets/:file`,
      { schema: { hide: true }, config: { envelope: 'standard' } },
      async (request, reply) => {
        const { file } = request.params;
        const type = ASSETS[file];
        const encoding = type ? preferredEncoding(request.headers['accept-encoding']) : null;
        const suffix = encoding === 'br' ? '.br' : encoding === 'gzip' ? '.gz' : '';
        const contents = type
          ? await readFile(path.join(consoleBundleDirectory(), `${file}${suffix}`)).catch(() => null)
          : null;
        // A script or a stylesheet is not a page: the API answers' policy; revalidated, as it holds no data.
        reply
          .header('content-security-policy', API_HEADERS['content-security-policy'])
          .header('cache-control', 'no-cache');
        if (!type) return sendError(request, reply, 404, 'Not found');
        if (!contents) return sendError(request, reply, 404, 'The console is not built: run `npm run build`');
        reply.header('vary', 'accept-encoding');
        if (encoding) reply.header('content-encoding', encoding);
        return reply.header('content-type', type).send(contents);
      },
    );
  };
}
