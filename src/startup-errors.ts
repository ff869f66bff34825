import type { Config } from './config.ts';

/**
 * Start-up failures as an operator reads them: one line that names the setting and what to do, never a stack
 * trace. The steps that depend on the environment (opening the database, listening) turn the errors they know
 * into a StartupError; anything else is printed by its message alone.
 */
export class StartupError extends Error {}

/** What a network error's code means, in words. */
const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'no answer',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name not resolved (DNS unavailable)',
};

/** A file-system error's code, in words. */
const FILE_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOSPC: 'no space left on the device',
};

/** The code of an error, or of the first of an AggregateError (a host with several addresses). */
function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, errors } = error as { code?: unknown; errors?: unknown };
  if (typeof code === 'string') return code;
  return Array.isArray(errors) ? codeOf(errors[0]) : undefined;
}

/** Opens the database: an error that says the configuration is wrong becomes a StartupError. */
export async function openingTheDatabase<T>(config: Config, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (error) {
    const line = config.databaseUrl ? postgresFailure(error, config.databaseUrl) : embeddedFailure(error, config);
    throw line ? new StartupError(line, { cause: error }) : error;
  }
}

function postgresFailure(error: unknown, databaseUrl: string): string | undefined {
  // Host, port, user and database only: the URL may hold a password.
  const url = new URL(databaseUrl);
  const server = `${url.hostname}:${url.port || 5432}`;
  const database = decodeURIComponent(url.pathname.slice(1)) || url.username || 'postgres';
  const code = codeOf(error);
  if (code && NETWORK_ERRORS[code]) {
    return (
      `cannot reach PostgreSQL at ${server} (DATABASE_URL): ${NETWORK_ERRORS[code]}. ` +
      'Check that PostgreSQL runs there and that DATABASE_URL names it.'
    );
  }
  if (code === '28P01' || code === '28000') {
    return (
      `PostgreSQL at ${server} refused user "${decodeURIComponent(url.username)}" (DATABASE_URL): ` +
      'set the right user name and password in DATABASE_URL.'
    );
  }
  if (code === '3D000') {
    return (
      `database "${database}" does not exist on ${server} (DATABASE_URL): ` +
      `create it (createdb ${database}), or name an existing one in DATABASE_URL.`
    );
  }
  if (code === '53300') {
    return (
      `PostgreSQL at ${server} has no connection slot left (DATABASE_URL): ` +
      'lower DATABASE_POOL_SIZE or raise the server max_connections.'
    );
  }
  return undefined;
}

function embeddedFailure(error: unknown, config: Config): string | undefined {
  const code = codeOf(error);
  if (code && FILE_ERRORS[code]) {
    return (
      `cannot use DATA_DIR (${config.dataDir}) for the embedded database: ${FILE_ERRORS[code]}. ` +
      'Set DATA_DIR to a folder this process may write, or DATABASE_URL to a PostgreSQL server.'
    );
  }
  return undefined;
}

/** Listens: an address in use or not available becomes a StartupError naming PORT and HOST. */
export async function listening<T>(config: Config, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (error) {
    const where = `${config.host}:${config.port}`;
    const code = codeOf(error);
    const line =
      code === 'EADDRINUSE'
        ? `port ${config.port} on ${config.host} is already in use (PORT, HOST): stop what listens there, or set PORT to a free port.`
        : code === 'EACCES'
          ? `not allowed to listen on ${where} (PORT): ports below 1024 need privileges; set PORT to 1024 or above.`
          : code === 'EADDRNOTAVAIL'
            ? `HOST ${config.host} is not an address of this machine: set HOST to one of its addresses, 127.0.0.1 or 0.0.0.0.`
            : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
              ? `HOST ${config.host} does not resolve to an address: set HOST to an address of this machine.`
              : undefined;
    throw line ? new StartupError(line, { cause: error }) : error;
  }
}

/** The line printed for a failed start: the message alone, on one line. */
export function startupFailureLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `care360 failed to start: ${message.replace(/\s*\n\s*/g, ' ')}`;
}
