import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { loadConfig, type Config } from '../../src/config.ts';
import type { Database } from '../../src/db/database.ts';
import { observeDatabase } from '../../src/observability/database.ts';
import { startObservability } from '../../src/observability/index.ts';
import { createServices, type Services } from '../../src/services.ts';
import { freshDatabase } from './database.ts';

export interface TestContext {
  app: FastifyInstance;
  db: Database;
  services: Services;
  config: Config;
  /** The database's connection string on PostgreSQL (freshDatabase's `url`), for tests that connect to it too. */
  url?: string;
  /** A new organization and its API key. */
  organization(name?: string): Promise<{ organizationId: string; apiKey: string; apiKeyId: string }>;
  close(): Promise<void>;
}

export const ADMIN_TOKEN = 'test-admin-token';

/** One PHI key per test process: on PostgreSQL a server needs one (PGlite in memory makes its own). */
const PHI_ENCRYPTION_KEY = randomBytes(32).toString('base64');

/**
 * The app as the server builds it, on a fresh database, without sockets (use app.inject). `configure` changes
 * settings that are not environment variables (e.g. `limits.queueCountCap`); `database` is freshDatabase's
 * options (`postgres: true` for a suite that needs PostgreSQL in every run).
 */
export async function createTestContext(
  environment: Record<string, string> = {},
  configure?: (config: Config) => void,
  databaseOptions: Parameters<typeof freshDatabase>[0] = {},
): Promise<TestContext> {
  const { db: database, url, drop } = await freshDatabase(databaseOptions);
  const config = loadConfig({ ADMIN_TOKEN, LOG_LEVEL: 'silent', PHI_ENCRYPTION_KEY, ...environment });
  configure?.(config);
  // Metrics and traces as the server builds them (src/server.ts): off unless the environment turns them on.
  const observability = await startObservability(config.observability);
  const db = observeDatabase(database, observability);
  const services = createServices(db, config, observability);
  const app = await buildApp({ config, db, services, observability, logger: false });
  await app.ready();
  let counter = 0;
  return {
    app,
    db,
    services,
    config,
    url,
    organization: (name) => services.organizations.createOrganization(name ?? `Organization ${++counter}`),
    async close() {
      await app.close();
      await drop();
    },
  };
}
