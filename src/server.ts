import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';
import { requirePhiKeyFor } from './crypto/phi.ts';
import { phiKeyLogLine, verifyPhiKey } from './crypto/phi-key-check.ts';
import { observeDatabase } from './observability/database.ts';
import { startObservability } from './observability/index.ts';
import { openMigratedDatabase } from './runtime.ts';
import { createServices } from './services.ts';
import { listening, openingTheDatabase, startupFailureLine } from './startup-errors.ts';

/** The process: read config, open and migrate the database, listen, close gracefully on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const config = loadConfig();
  requirePhiKeyFor(config);
  const observability = await startObservability(config.observability);
  const { db: database, applied } = await openingTheDatabase(config, () => openMigratedDatabase(config));
  const db = observeDatabase(database, observability);
  const services = createServices(db, config, observability);
  await verifyPhiKey(db, services.phiCipher);
  const app = await buildApp({ config, db, services, observability });

  const where = db.engine === 'postgres' ? 'PostgreSQL (DATABASE_URL)' : `embedded PGlite in ${config.dataDir}`;
  app.log.info({ database: db.engine, migrationsApplied: applied }, `database: ${where}`);
  const keys = phiKeyLogLine(await services.phiCipher.describe());
  app.log[keys.level](keys.fields, keys.message);

  if (config.bootstrapApiKey) {
    const { organizationId, created } = await services.organizations.ensureBootstrapKey(config.bootstrapApiKey);
    app.log.info({ organizationId, created }, 'bootstrap API key is active');
  } else if (db.engine === 'pglite') {
    const demo = await services.organizations.createDemoOrganizationIfEmpty();
    if (demo) {
      // Printed once, to the terminal and not to the structured log: it is a secret.
      process.stdout.write(
        `\n  A demo organization was created (${demo.organizationId}).\n` +
          `  Its API key, shown only this once:\n\n    cv-api-key: ${demo.apiKey}\n\n`,
      );
    }
  }

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing requests in flight');
    const force = setTimeout(() => {
      app.log.error('shutdown took over 10 s; exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    try {
      await app.close(); // stops accepting, waits for requests in flight
      await services.webhookDelivery.stop(); // sends cut short are recorded as failed and retried
      await services.approvalCharges.stop(); // a charge cut short is resumed by the next process, same key
      await services.paymentSweep.stop(); // a refund cut short is tried again by a later pass once its claim lapses
      await db.close();
      process.exit(0);
    } catch (error) {
      app.log.error({ err: error }, 'error during shutdown');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));

  const url = await listening(config, () => app.listen({ port: config.port, host: config.host }));
  services.webhookDelivery.start(app.log);
  services.approvalCharges.start(app.log);
  services.paymentSweep.start(app.log);
  // The CLI reads it from the data folder's lock to work through this server (`phi rotate`).
  await db.dataDirLock?.describe({ url });
}

main().catch((error: unknown) => {
  process.stderr.write(`${startupFailureLine(error)}\n`);
  process.exit(1);
});
