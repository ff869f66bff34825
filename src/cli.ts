import { Command } from 'commander';
import { ConfigError, loadConfig } from './config.ts';
import { DataDirInUseError } from './db/data-dir-lock.ts';
import type { Database } from './db/database.ts';
import { migrationStatus } from './db/migrate.ts';
import { registerCaseCommands } from './modules/cases/cli.ts';
import { registerPaymentCommands } from './modules/payments/cli.ts';
import { registerWebhookCommands } from './modules/outbound-webhooks/cli.ts';
import { registerPhiKeyCommands } from './modules/phi-keys/cli.ts';
import { registerStaffCommands } from './modules/staff/cli.ts';
import { organizationNameSchema } from './modules/organizations/admin-routes.ts';
import { registerOperationCommands } from './operations/cli.ts';
import { openConfiguredDatabase, openMigratedDatabase } from './runtime.ts';
import { createServices, type Services } from './services.ts';
import { isUuid } from './uuid.ts';
import { version } from './version.ts';

/** Operator commands over the same services as the HTTP API, on the database the environment names. */
async function withDatabase(work: (services: Services, db: Database) => Promise<void>): Promise<void> {
  const config = loadConfig();
  const { db } = await openMigratedDatabase(config);
  try {
    await work(createServices(db, config), db);
  } finally {
    await db.close();
  }
}

/** The same, refused with what to do when a server holds the embedded database. */
const withServices = (work: (services: Services, db: Database) => Promise<void>): Promise<void> =>
  withDatabase(work).catch(refuseBesideTheOwner);

/** The embedded database has one owner at a time: a command never writes beside a running server. */
function refuseBesideTheOwner(error: unknown): never {
  if (!(error instanceof DataDirInUseError)) throw error;
  const { url } = error.holder;
  throw new Error(
    `${error.message.replace(/ Stop that process.*$/, '')} This command did nothing. Stop that process and run it ` +
      'again' +
      (url
        ? `, or do the same through the running server's operator API, ${url}/admin/v1 with ADMIN_TOKEN ` +
          '(docs/api/foundation.md).'
        : '.'),
  );
}

const print = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);

const program = new Command()
  .name('care360')
  .description('care360 operator commands (database from DATABASE_URL, else PGlite in DATA_DIR)')
  .version(version);

program
  .command('migrate')
  .description('apply pending migrations')
  .option('--status', 'list migrations and whether each is applied, without applying')
  .action(async (options: { status?: boolean }) => {
    const config = loadConfig();
    if (options.status) {
      const db = await openConfiguredDatabase(config).catch(refuseBesideTheOwner);
      try {
        print(await migrationStatus(db));
      } finally {
        await db.close();
      }
      return;
    }
    const { db, applied } = await openMigratedDatabase(config).catch(refuseBesideTheOwner);
    await db.close();
    print({ applied });
  });

const organizations = program.command('org').description('organizations');
organizations
  .command('create')
  .argument('<name>', 'organization name')
  .description('create an organization and print its first API key (shown once)')
  .action((name: string) =>
    withServices(async (services) => print(await services.organizations.createOrganization(name))),
  );
organizations
  .command('rename')
  .argument('<organizationId>', 'organization id')
  .argument('<name>', 'the new name')
  .description('rename an organization (its id, keys and cases stay)')
  .action((organizationId: string, name: string) =>
    withServices(async (services) => {
      if (!isUuid(organizationId)) throw new Error('organizationId: not an organization id');
      const parsed = organizationNameSchema.safeParse(name);
      if (!parsed.success) throw new Error('name: 1 to 200 characters');
      print(await services.organizations.renameOrganization(organizationId, parsed.data));
    }),
  );
organizations
  .command('list')
  .description('list organizations')
  .action(() => withServices(async (services) => print(await services.organizations.listOrganizations())));

const keys = program.command('key').description('API keys');
keys
  .command('create')
  .argument('<organizationId>')
  .option('--label <label>', 'a note to tell keys apart')
  .description('create another API key for an organization (shown once)')
  .action((organizationId: string, options: { label?: string }) =>
    withServices(async (services) =>
      print(await services.organizations.createApiKey(organizationId, options.label ?? null)),
    ),
  );
keys
  .command('list')
  .argument('<organizationId>')
  .description("list an organization's API keys (never the secrets)")
  .action((organizationId: string) =>
    withServices(async (services) => print(await services.organizations.listApiKeys(organizationId))),
  );
keys
  .command('revoke')
  .argument('<organizationId>')
  .argument('<apiKeyId>')
  .description('revoke an API key')
  .action((organizationId: string, apiKeyId: string) =>
    withServices(async (services) => print(await services.organizations.revokeApiKey(organizationId, apiKeyId))),
  );

registerCaseCommands(program, withServices, print);
registerPaymentCommands(program, withServices, print);
registerWebhookCommands(program, withServices, print);
registerStaffCommands(program, withServices, print);
registerPhiKeyCommands(program, { loadConfig, withDatabase, print });
registerOperationCommands(program, print);

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigError || error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
