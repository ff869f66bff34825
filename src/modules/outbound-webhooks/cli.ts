import type { Command } from 'commander';
import { ApiError } from '../../http/api-error.ts';
import { Tenant } from '../../http/gate.ts';
import type { Services } from '../../services.ts';
import { deliveryJson, webhookJson } from './admin-routes.ts';
import { WEBHOOK_EVENTS } from './events.ts';

type WithServices = (work: (services: Services) => Promise<void>) => Promise<void>;
type Print = (value: unknown) => void;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function id(value: string, name: string): string {
  if (!UUID.test(value)) throw new ApiError(400, `${name} must be a UUID`);
  return value;
}

/** An operator command names the organization it acts for as its argument. */
function organizationOfCommand(organizationId: string): Tenant {
  return Tenant.forOperator(id(organizationId, 'organizationId'), 'an operator command names the organization');
}

/** `--events A,B`: published event names; `all` (or nothing) means every event. */
function eventList(value: string | undefined): string[] | null | undefined {
  if (value === undefined) return undefined;
  if (value.trim().toLowerCase() === 'all') return null;
  const names = value
    .split(',')
    .map((name) => name.trim().toUpperCase())
    .filter(Boolean);
  const unknown = names.filter((name) => !(WEBHOOK_EVENTS as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0) {
    throw new ApiError(400, `--events: unknown event ${unknown.join(', ') || '(none given)'}`);
  }
  return names;
}

function documentFormat(value: string | undefined): 'BASE64' | 'URL' | undefined {
  if (value === undefined) return undefined;
  const upper = value.toUpperCase();
  if (upper !== 'BASE64' && upper !== 'URL') throw new ApiError(400, '--document-format must be BASE64 or URL');
  return upper;
}

interface EndpointOptions {
  secret?: string;
  events?: string;
  documentFormat?: string;
  fullCaseData?: boolean;
}

/** `webhooks ...`: an organization's outbound webhook endpoints and their deliveries, as the admin API. */
export function registerWebhookCommands(program: Command, withServices: WithServices, print: Print): void {
  const webhooks = program.command('webhooks').description("an organization's outbound webhooks");
  webhooks
    .command('create')
    .argument('<organizationId>')
    .argument('<url>')
    .option('--secret <secret>', 'signing secret (default: a new whsec_ secret, printed once)')
    .option('--events <names>', 'comma-separated event names, or all (default)')
    .option('--document-format <format>', 'BASE64 or URL', 'BASE64')
    .option('--full-case-data', 'send the full case with every event')
    .description('add a webhook endpoint')
    .action((organizationId: string, url: string, options: EndpointOptions) =>
      withServices(async (services) => {
        const { endpoint, secret } = await services.webhooks.create(organizationOfCommand(organizationId), {
          url,
          secret: options.secret,
          events: eventList(options.events),
          documentFormat: documentFormat(options.documentFormat),
          sendFullCaseData: options.fullCaseData === true,
        });
        print({ ...webhookJson(endpoint), ...(secret ? { secret } : {}) });
      }),
    );
  webhooks
    .command('list')
    .argument('<organizationId>')
    .description("list an organization's webhook endpoints (never their secrets)")
    .action((organizationId: string) =>
      withServices(async (services) =>
        print((await services.webhooks.list(organizationOfCommand(organizationId))).map(webhookJson)),
      ),
    );
  webhooks
    .command('update')
    .argument('<organizationId>')
    .argument('<webhookId>')
    .option('--url <url>')
    .option('--events <names>', 'comma-separated event names, or all')
    .option('--document-format <format>', 'BASE64 or URL')
    .option('--full-case-data <yes|no>', 'send the full case with every event')
    .option('--enable', 'enable again (clears the reason it was disabled)')
    .description('change a webhook endpoint')
    .action(
      (
        organizationId: string,
        webhookId: string,
        options: Omit<EndpointOptions, 'fullCaseData'> & { url?: string; fullCaseData?: string; enable?: boolean },
      ) =>
        withServices(async (services) => {
          const full = options.fullCaseData;
          if (full !== undefined && full !== 'yes' && full !== 'no') {
            throw new ApiError(400, '--full-case-data must be yes or no');
          }
          const endpoint = await services.webhooks.update(
            organizationOfCommand(organizationId),
            id(webhookId, 'webhookId'),
            {
              url: options.url,
              events: eventList(options.events),
              documentFormat: documentFormat(options.documentFormat),
              sendFullCaseData: full === undefined ? undefined : full === 'yes',
              enabled: options.enable ? true : undefined,
            },
          );
          print(webhookJson(endpoint));
        }),
    );
  webhooks
    .command('disable')
    .argument('<organizationId>')
    .argument('<webhookId>')
    .description('stop sending to a webhook endpoint (its deliveries wait until it is enabled again)')
    .action((organizationId: string, webhookId: string) =>
      withServices(async (services) =>
        print(
          webhookJson(
            await services.webhooks.update(organizationOfCommand(organizationId), id(webhookId, 'webhookId'), {
              enabled: false,
            }),
          ),
        ),
      ),
    );
  webhooks
    .command('delete')
    .argument('<organizationId>')
    .argument('<webhookId>')
    .description('delete a webhook endpoint and its deliveries')
    .action((organizationId: string, webhookId: string) =>
      withServices(async (services) => {
        await services.webhooks.remove(organizationOfCommand(organizationId), id(webhookId, 'webhookId'));
        print({ webhookId, deleted: true });
      }),
    );
  webhooks
    .command('rotate-secret')
    .argument('<organizationId>')
    .argument('<webhookId>')
    .option('--secret <secret>', 'the new secret (default: a new whsec_ secret, printed once)')
    .description('replace the signing secret')
    .action((organizationId: string, webhookId: string, options: { secret?: string }) =>
      withServices(async (services) => {
        const { endpoint, secret } = await services.webhooks.rotateSecret(
          organizationOfCommand(organizationId),
          id(webhookId, 'webhookId'),
          options.secret,
        );
        print({ ...webhookJson(endpoint), ...(secret ? { secret } : {}) });
      }),
    );
  webhooks
    .command('deliveries')
    .argument('<organizationId>')
    .argument('<webhookId>')
    .option('--status <status>', 'pending, delivered or failed')
    .option('--limit <n>', 'how many, newest first', '50')
    .description('list the latest deliveries to a webhook endpoint with their attempts')
    .action((organizationId: string, webhookId: string, options: { status?: string; limit: string }) =>
      withServices(async (services) => {
        const status = options.status;
        if (status !== undefined && status !== 'pending' && status !== 'delivered' && status !== 'failed') {
          throw new ApiError(400, '--status must be pending, delivered or failed');
        }
        const limit = Number(options.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new ApiError(400, '--limit must be 1 to 500');
        const deliveries = await services.webhooks.deliveries(
          organizationOfCommand(organizationId),
          id(webhookId, 'webhookId'),
          { status, limit },
        );
        print(deliveries.map(deliveryJson));
      }),
    );
  webhooks
    .command('redeliver')
    .argument('<organizationId>')
    .argument('<webhookId>')
    .argument('[deliveryId]', 'one delivery; or --failed-since')
    .option('--failed-since <time>', 'every failed delivery whose event is at or after this ISO 8601 time')
    .description('send deliveries again (a running server sends them)')
    .action(
      (organizationId: string, webhookId: string, deliveryId: string | undefined, options: { failedSince?: string }) =>
        withServices(async (services) => {
          const organization = organizationOfCommand(organizationId);
          const webhook = id(webhookId, 'webhookId');
          if (deliveryId !== undefined && options.failedSince === undefined) {
            await services.webhooks.redeliver(organization, webhook, id(deliveryId, 'deliveryId'));
            print({ deliveryId, status: 'pending' });
            return;
          }
          const since = options.failedSince === undefined ? NaN : Date.parse(options.failedSince);
          if (deliveryId !== undefined || Number.isNaN(since)) {
            throw new ApiError(400, 'give either a deliveryId or --failed-since <ISO 8601 time>');
          }
          print({ redelivered: await services.webhooks.redeliverFailedSince(organization, webhook, new Date(since)) });
        }),
    );
}
