import { randomUUID } from 'node:crypto';
import type { Database } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import { ApiError } from '../../http/envelopes.ts';
import { displayPrefix, generateApiKey, hashApiKey } from './api-keys.ts';
import { OrganizationRepository, type ApiKeyRow, type OrganizationRow, type Principal } from './repository.ts';

export interface IssuedApiKey {
  apiKeyId: string;
  /** The secret itself: returned once, at creation, and never again. */
  apiKey: string;
}

/** Only write last_used_at once a minute per key, so authentication stays a single read. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** How many recently seen keys are remembered, and for how long (see `authenticate`). */
const RECENT_KEYS_MAX = 10_000;
const RECENT_KEY_TTL_MS = 5 * 60_000;

export class OrganizationService {
  private readonly lastTouched = new Map<string, number>();
  /** Key hash -> the active key it was when last read, and when that was. Oldest first. */
  private readonly recentKeys = new Map<string, { principal: Principal; readAt: number }>();

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
    this.forget(apiKeyId);
    return revoked;
  }

  /**
   * The organization behind an active key, or null. Records when the key was last used.
   *
   * With `confirmedByWrite`, a key read as active in the last few minutes is not read again: the
   * principal comes back `unconfirmed`, and the request's write checks the key in the same statement
   * (`activeKeyCondition`), so a revoked key still writes nothing from the next request on, one round
   * trip fewer. Whatever else such a request answers goes through `confirmKey` first (the error handler).
   */
  async authenticate(apiKey: string, options: { confirmedByWrite?: boolean } = {}): Promise<Principal | null> {
    const repository = new OrganizationRepository(this.db);
    const keyHash = hashApiKey(apiKey);
    const now = Date.now();
    const recent = options.confirmedByWrite ? this.recentKeys.get(keyHash) : undefined;
    let principal: Principal | null;
    if (recent && now - recent.readAt < RECENT_KEY_TTL_MS) {
      principal = { ...recent.principal, unconfirmed: true };
    } else {
      principal = await repository.findActiveKeyByHash(keyHash);
      this.remember(keyHash, principal, now);
    }
    if (principal) {
      const last = this.lastTouched.get(principal.apiKeyId) ?? 0;
      if (now - last >= LAST_USED_RESOLUTION_MS) {
        this.lastTouched.set(principal.apiKeyId, now);
        await repository.touchApiKey(principal.apiKeyId);
      }
    }
    return principal;
  }

  /** For an `unconfirmed` principal: true when its key is still active; a revoked key is forgotten. */
  async confirmKey(principal: Principal): Promise<boolean> {
    const active = await new OrganizationRepository(this.db).isActiveKey(principal.organizationId, principal.apiKeyId);
    if (!active) this.forget(principal.apiKeyId);
    return active;
  }

  private remember(keyHash: string, principal: Principal | null, now: number): void {
    this.recentKeys.delete(keyHash);
    if (!principal) return;
    this.recentKeys.set(keyHash, { principal, readAt: now });
    if (this.recentKeys.size > RECENT_KEYS_MAX) this.recentKeys.delete(this.recentKeys.keys().next().value!);
  }

  private forget(apiKeyId: string): void {
    for (const [keyHash, recent] of this.recentKeys) {
      if (recent.principal.apiKeyId === apiKeyId) this.recentKeys.delete(keyHash);
    }
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
