import type { PhiCipher } from '../../crypto/phi.ts';
import type { Database } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import type { Tenant } from '../../http/gate.ts';
import { OrganizationRepository } from '../organizations/repository.ts';
import { checkUrlShape, hostOf, resolveSafely, UnsafeWebhookUrlError } from './address-safety.ts';
import {
  WebhookRepository,
  type DeliveryStatus,
  type DocumentFormat,
  type EndpointChanges,
  type WebhookAttemptRow,
  type WebhookDeliveryRow,
  type WebhookEndpointRow,
} from './repository.ts';
import { isUsableSecret, newWebhookSecret } from './signing.ts';

export interface EndpointInput {
  url: string;
  secret?: string;
  events?: string[] | null;
  documentFormat?: DocumentFormat;
  sendFullCaseData?: boolean;
}

export interface EndpointUpdate {
  url?: string;
  events?: string[] | null;
  documentFormat?: DocumentFormat;
  sendFullCaseData?: boolean;
  enabled?: boolean;
}

/** A secret this server made: shown once, in the answer that made it. */
export interface IssuedSecret {
  secret?: string;
}

export interface DeliveryWithAttempts {
  delivery: WebhookDeliveryRow;
  attempts: WebhookAttemptRow[];
}

/** An organization's webhook endpoints and their deliveries (the admin API and the CLI). */
export class WebhookEndpointService {
  constructor(
    private readonly db: Database,
    private readonly cipher: PhiCipher,
    private readonly options: { allowPrivateNetworks: boolean },
  ) {}

  async create(tenant: Tenant, input: EndpointInput): Promise<{ endpoint: WebhookEndpointRow } & IssuedSecret> {
    await this.requireOrganization(tenant);
    const url = await this.checkUrl(input.url);
    const { secret, issued } = this.secretFrom(input.secret);
    const endpoint = await new WebhookRepository(this.db, tenant).createEndpoint({
      url,
      secretSealed: await this.cipher.encryptText(secret),
      events: normalizeEvents(input.events),
      documentFormat: input.documentFormat ?? 'BASE64',
      sendFullCaseData: input.sendFullCaseData ?? false,
    });
    return { endpoint, ...(issued ? { secret } : {}) };
  }

  async list(tenant: Tenant): Promise<WebhookEndpointRow[]> {
    await this.requireOrganization(tenant);
    return new WebhookRepository(this.db, tenant).listEndpoints();
  }

  async get(tenant: Tenant, endpointId: string): Promise<WebhookEndpointRow> {
    const endpoint = await new WebhookRepository(this.db, tenant).findEndpoint(endpointId);
    if (!endpoint) throw new ApiError(404, 'Webhook not found');
    return endpoint;
  }

  async update(tenant: Tenant, endpointId: string, update: EndpointUpdate): Promise<WebhookEndpointRow> {
    const changes: EndpointChanges = {};
    if (update.url !== undefined) changes.url = await this.checkUrl(update.url);
    if (update.events !== undefined) changes.events = normalizeEvents(update.events);
    if (update.documentFormat !== undefined) changes.document_format = update.documentFormat;
    if (update.sendFullCaseData !== undefined) changes.send_full_case_data = update.sendFullCaseData;
    if (update.enabled !== undefined) changes.enabled = update.enabled;
    const endpoint = await new WebhookRepository(this.db, tenant).updateEndpoint(endpointId, changes);
    if (!endpoint) throw new ApiError(404, 'Webhook not found');
    return endpoint;
  }

  async remove(tenant: Tenant, endpointId: string): Promise<void> {
    if (!(await new WebhookRepository(this.db, tenant).deleteEndpoint(endpointId))) {
      throw new ApiError(404, 'Webhook not found');
    }
  }

  /** A new secret (the one given, or a new `whsec_` one, shown once); deliveries from now on are signed with it. */
  async rotateSecret(
    tenant: Tenant,
    endpointId: string,
    given?: string,
  ): Promise<{ endpoint: WebhookEndpointRow } & IssuedSecret> {
    const { secret, issued } = this.secretFrom(given);
    const endpoint = await new WebhookRepository(this.db, tenant).updateEndpoint(endpointId, {
      secret_sealed: await this.cipher.encryptText(secret),
    });
    if (!endpoint) throw new ApiError(404, 'Webhook not found');
    return { endpoint, ...(issued ? { secret } : {}) };
  }

  async deliveries(
    tenant: Tenant,
    endpointId: string,
    options: { status?: DeliveryStatus; limit?: number },
  ): Promise<DeliveryWithAttempts[]> {
    await this.get(tenant, endpointId);
    const repository = new WebhookRepository(this.db, tenant);
    const deliveries = await repository.listDeliveries(endpointId, {
      status: options.status,
      limit: options.limit ?? 50,
    });
    const attempts = await repository.attemptsOf(deliveries.map((delivery) => delivery.id));
    return deliveries.map((delivery) => ({
      delivery,
      attempts: attempts.filter((attempt) => attempt.delivery_id === delivery.id),
    }));
  }

  async redeliver(tenant: Tenant, endpointId: string, deliveryId: string): Promise<WebhookDeliveryRow> {
    const delivery = await new WebhookRepository(this.db, tenant).redeliver(endpointId, deliveryId);
    if (!delivery) throw new ApiError(404, 'Delivery not found');
    return delivery;
  }

  async redeliverFailedSince(tenant: Tenant, endpointId: string, since: Date): Promise<number> {
    await this.get(tenant, endpointId);
    return new WebhookRepository(this.db, tenant).redeliverFailedSince(endpointId, since);
  }

  private async requireOrganization(tenant: Tenant): Promise<void> {
    if (!(await new OrganizationRepository(this.db).exists(tenant.organizationId))) {
      throw new ApiError(404, 'Organization not found');
    }
  }

  /** The URL's own rules, then its host resolved and every address checked (again at every delivery). */
  private async checkUrl(text: string): Promise<string> {
    const allow = this.options.allowPrivateNetworks;
    try {
      const url = checkUrlShape(text, allow);
      await resolveSafely(hostOf(url), allow);
      return url.toString();
    } catch (error) {
      if (error instanceof UnsafeWebhookUrlError) throw new ApiError(400, error.message);
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ENODATA') {
        throw new ApiError(400, 'url: its host does not resolve');
      }
      throw error;
    }
  }

  private secretFrom(given: string | undefined): { secret: string; issued: boolean } {
    if (given === undefined) return { secret: newWebhookSecret(), issued: true };
    if (!isUsableSecret(given)) throw new ApiError(400, 'secret: a whsec_ secret must be base64 after whsec_');
    return { secret: given, issued: false };
  }
}

/** No list means every event; a list is kept once per name, in order. */
function normalizeEvents(events: string[] | null | undefined): string[] | null {
  if (events === undefined || events === null) return null;
  return [...new Set(events)];
}
