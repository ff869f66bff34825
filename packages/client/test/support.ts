import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, type RunningServer } from '../../../test/support/server-process.ts';

export const ADMIN_TOKEN = 'client-test-admin-token';

export interface Care360Server {
  url: string;
  server: RunningServer;
  /** A new organization and its API key, through the operator API. */
  organization(name?: string): Promise<{ organizationId: string; apiKey: string }>;
  /** A call to the operator API. */
  admin(method: string, url: string, body?: unknown): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * care360 as `npm start` runs it (test/support/server-process.ts), on the embedded database in a directory of its
 * own, with the operator API on and no request rate limits.
 */
export async function startCare360(environment: Record<string, string> = {}): Promise<Care360Server> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'care360-client-'));
  const server = await startServer({
    DATA_DIR: dataDir,
    ADMIN_TOKEN,
    BOOTSTRAP_API_KEY: 'client-test-bootstrap',
    RATE_LIMIT_PER_KEY: '0',
    RATE_LIMIT_PER_ADDRESS: '0',
    ...environment,
  });
  let counter = 0;
  const admin = (method: string, url: string, body?: unknown) =>
    fetch(`${server.url}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  return {
    url: server.url,
    server,
    admin,
    async organization(name) {
      const response = await admin('POST', '/admin/v1/organizations', { name: name ?? `Storefront ${++counter}` });
      if (response.status !== 201) throw new Error(`organization: ${response.status} ${await response.text()}`);
      return (await response.json()) as { organizationId: string; apiKey: string };
    },
    async stop() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
