import type { Config } from '../config.ts';

/** An operator command refused, with what to do instead; the CLI prints the message and exits 1. */
export class OperationError extends Error {}

/** The address of the server this configuration starts: its PORT on loopback when it listens on every address. */
export function configuredServerUrl(config: Config): string {
  const host = ['0.0.0.0', '::', '[::]'].includes(config.host) ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${config.port}`;
}

/**
 * Whether a server answers at `url` (its GET /ready), and on which engine; undefined when the connection is
 * refused (nothing listens there). Anything else (a time-out) is not taken as "no server": it throws. The
 * embedded database can be open in one process only, so the operator commands that read it ask the
 * running server instead (a backup), or refuse while one runs (a restore, the move).
 */
export async function probeServer(url: string): Promise<{ engine: 'pglite' | 'postgres' | undefined } | undefined> {
  let response: Response;
  try {
    response = await fetch(new URL('/ready', url), { signal: AbortSignal.timeout(5000) });
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    if (code === 'ECONNREFUSED') return undefined;
    throw new OperationError(
      `Could not tell whether a care360 server runs at ${url} (${code ?? (error as Error).message}). ` +
        'Stop it, or name the running server with --server <url>.',
    );
  }
  const body = (await response.json().catch(() => ({}))) as { database?: unknown };
  return { engine: body.database === 'pglite' || body.database === 'postgres' ? body.database : undefined };
}
