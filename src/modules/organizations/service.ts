import { randomUUID } from 'node:crypto';
import type { Database } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { displayPrefix, generateApiKey, hashApiKey } from './api-keys.ts';
import { OrganizationRepository, type ApiKeyRow, type OrganizationRow, type Principal } from './repository.ts';

export interface IssuedApiKey {
  apiKeyId: string;
  /** The secret itself: returned once, at creation, and never again. */
  apiKey: string;
}

/** Only write last_used_at once a minute per key, so authentication stays a single read. */
const LAST_USED_RESOLUTION_MS = 60_000;

export class OrganizationService {
  private readonly lastTouched = new Map<string, number>();

  constructor(private readonly db: Database) {}

  async createOrganization(name: string): Promise<{ organizationId: string } & IssuedApiKey> {
    const organizationId = randomUUID();
    const issued = await this.db.transaction(async (tx) => {
      const repository = new OrganizationRepository(tx);
      await repository.insertOrganization(organizationId, name);
      return this.issueKey(repository, organizationId, generateApiKey(), 'initial');
    });
    return { organizationId, ...issued };
  }

  listOrganizations(): Promise<OrganizationRow[]> {
    return new OrganizationRepository(this.db).list();
  }

  async renameOrganization(organizationId: string, name: string): Promise<OrganizationRow> {
    const renamed = await new OrganizationRepository(this.db).rename(organizationId, name);
    if (!renamed) throw new ApiError(404, 'Organization not found');
    return renamed;
  }

  async createApiKey(organizationId: string, label: string | null): Promise<IssuedApiKey> {
    const repository = new OrganizationRepository(this.db);
    if (!(await repository.exists(organizationId))) throw new ApiError(404, 'Organization not found');
    return this.issueKey(repository, organizationId, generateApiKey(), label);
  }

  async listApiKeys(organizationId: string): Promise<ApiKeyRow[]> {
    const repository = new OrganizationRepository(this.db);
    if (!(await repository.exists(organizationId))) throw new ApiError(404, 'Organization not found');
    return repository.listApiKeys(organizationId);
  }

  async revokeApiKey(organizationId: string, apiKeyId: string): Promise<ApiKeyRow> {
    const revoked = await new OrganizationRepository(this.db).revokeApiKey(organizationId, apiKeyId);
    if (!revoked) throw new ApiError(404, 'API key not found');
    return revoked;
  }

  /** The organization behind an active key, or null. Records when the key was last used. */
  authenticate(apiKey: string): Promise<Principal | null> {
    return this.authenticateHash(hashApiKey(apiKey));
  }

  /** As `authenticate`, for a key already hashed (the gate keeps recent keys by hash). */
  async authenticateHash(keyHash: string): Promise<Principal | null> {
    const principal = await new OrganizationRepository(this.db).findActiveKeyByHash(keyHash);
    if (principal) await this.touchApiKey(principal.apiKeyId);
    return principal;
  }

  /** Records a use of the key; written at most once a minute per key, so authentication stays one read. */
  touchApiKey(apiKeyId: string): Promise<void> | void {
    const now = Date.now();
    const last = this.lastTouched.get(apiKeyId) ?? 0;
    if (now - last < LAST_USED_RESOLUTION_MS) return;
    this.lastTouched.set(apiKeyId, now);
    return new OrganizationRepository(this.db).touchApiKey(apiKeyId);
  }

  /** Whether the key is still an active key of the organization. */
  isActiveKey(organizationId: string, apiKeyId: string): Promise<boolean> {
    return new OrganizationRepository(this.db).isActiveKey(organizationId, apiKeyId);
  }

  /**
   * Makes sure an organization holds exactly this operator-chosen key. Idempotent across restarts and
   * safe when several processes start at once (the key hash is unique). A revoked bootstrap key stays revoked.
   */
  async ensureBootstrapKey(apiKey: string): Promise<{ organizationId: string; created: boolean }> {
    const repository = new OrganizationRepository(this.db);
    const existing = await repository.findKeyByHash(hashApiKey(apiKey));
    if (existing) return { organizationId: existing.organization_id, created: false };
    const organizationId = randomUUID();
    try {
      await this.db.transaction(async (tx) => {
        const scoped = new OrganizationRepository(tx);
        await scoped.insertOrganization(organizationId, 'Bootstrap organization');
        await this.issueKey(scoped, organizationId, apiKey, 'bootstrap');
      });
      return { organizationId, created: true };
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      const winner = await repository.findKeyByHash(hashApiKey(apiKey));
      if (!winner) throw error;
      return { organizationId: winner.organization_id, created: false };
    }
  }

  /** On an empty database, a demo organization whose key is returned once for the operator to see. */
  async createDemoOrganizationIfEmpty(): Promise<({ organizationId: string } & IssuedApiKey) | null> {
    if ((await new OrganizationRepository(this.db).count()) > 0) return null;
    return this.createOrganization('Demo organization');
  }

  private async issueKey(
    repository: OrganizationRepository,
    organizationId: string,
    apiKey: string,
    label: string | null,
  ): Promise<IssuedApiKey> {
    const apiKeyId = randomUUID();
    await repository.insertApiKey({
      id: apiKeyId,
      organizationId,
      keyHash: hashApiKey(apiKey),
      keyPrefix: displayPrefix(apiKey),
      label,
    });
    return { apiKeyId, apiKey };
  }
}
