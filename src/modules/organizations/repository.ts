import { prepared, type Queryable } from '../../db/database.ts';

/** Every authenticated request runs it. */
const FIND_ACTIVE_KEY = prepared('select id, organization_id from api_keys where key_hash = $1 and revoked_at is null');

/**
 * Whether a key is still an active key of its organization, as a SQL condition: for a write that confirms
 * the key itself, and for `isActiveKey`. True when `apiKeyId` is null (the key was read for this request).
 */
export const activeKeyCondition = (apiKeyId: string, organizationId: string) =>
  `(${apiKeyId} is null or exists (select 1 from api_keys where id = ${apiKeyId} and organization_id = ${organizationId} and revoked_at is null))`;
const IS_ACTIVE_KEY = prepared(`select ${activeKeyCondition('$1::uuid', '$2::uuid')} as active`);

export interface OrganizationRow {
  id: string;
  name: string;
  created_at: Date;
  active_api_keys: number;
}

export interface ApiKeyRow {
  id: string;
  organization_id: string;
  key_prefix: string;
  label: string | null;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export interface Principal {
  organizationId: string;
  apiKeyId: string;
}

/** Organizations are the tenants themselves, so this repository is the one not scoped by one. */
export class OrganizationRepository {
  constructor(private readonly db: Queryable) {}

  async insertOrganization(id: string, name: string): Promise<void> {
    await this.db.query('insert into organizations (id, name) values ($1, $2)', [id, name]);
  }

  async list(): Promise<OrganizationRow[]> {
    const { rows } = await this.db.query<OrganizationRow>(
      `select o.id, o.name, o.created_at,
              (select count(*)::int from api_keys k where k.organization_id = o.id and k.revoked_at is null) as active_api_keys
         from organizations o order by o.created_at, o.id`,
    );
    return rows;
  }

  /** Renames an organization; its row as the list shows it, or null when there is no such organization. */
  async rename(id: string, name: string): Promise<OrganizationRow | null> {
    const { rows } = await this.db.query<OrganizationRow>(
      `update organizations o set name = $2 where o.id = $1
        returning o.id, o.name, o.created_at,
                  (select count(*)::int from api_keys k where k.organization_id = o.id and k.revoked_at is null)
                    as active_api_keys`,
      [id, name],
    );
    return rows[0] ?? null;
  }

  /** The names of these organizations (null: every organization), by name. */
  async names(ids: readonly string[] | null): Promise<{ id: string; name: string }[]> {
    const { rows } = await this.db.query<{ id: string; name: string }>(
      ids === null
        ? 'select id, name from organizations order by name, id'
        : 'select id, name from organizations where id = any($1::uuid[]) order by name, id',
      ids === null ? [] : [[...ids]],
    );
    return rows;
  }

  async exists(id: string): Promise<boolean> {
    const { rows } = await this.db.query('select 1 from organizations where id = $1', [id]);
    return rows.length > 0;
  }

  async count(): Promise<number> {
    const { rows } = await this.db.query<{ count: number }>('select count(*)::int as count from organizations');
    return rows[0]?.count ?? 0;
  }

  async insertApiKey(key: {
    id: string;
    organizationId: string;
    keyHash: string;
    keyPrefix: string;
    label: string | null;
  }): Promise<void> {
    await this.db.query(
      'insert into api_keys (id, organization_id, key_hash, key_prefix, label) values ($1, $2, $3, $4, $5)',
      [key.id, key.organizationId, key.keyHash, key.keyPrefix, key.label],
    );
  }

  async listApiKeys(organizationId: string): Promise<ApiKeyRow[]> {
    const { rows } = await this.db.query<ApiKeyRow>(
      `select id, organization_id, key_prefix, label, created_at, last_used_at, revoked_at
         from api_keys where organization_id = $1 order by created_at, id`,
      [organizationId],
    );
    return rows;
  }

  /** Revokes a key of that organization; null when there is no such key there. */
  async revokeApiKey(organizationId: string, apiKeyId: string): Promise<ApiKeyRow | null> {
    const { rows } = await this.db.query<ApiKeyRow>(
      `update api_keys set revoked_at = coalesce(revoked_at, now())
        where organization_id = $1 and id = $2
        returning id, organization_id, key_prefix, label, created_at, last_used_at, revoked_at`,
      [organizationId, apiKeyId],
    );
    return rows[0] ?? null;
  }

  async findActiveKeyByHash(keyHash: string): Promise<Principal | null> {
    const { rows } = await this.db.query<{ id: string; organization_id: string }>(FIND_ACTIVE_KEY, [keyHash]);
    const row = rows[0];
    return row ? { organizationId: row.organization_id, apiKeyId: row.id } : null;
  }

  async findKeyByHash(
    keyHash: string,
  ): Promise<{ id: string; organization_id: string; revoked_at: Date | null } | null> {
    const { rows } = await this.db.query<{ id: string; organization_id: string; revoked_at: Date | null }>(
      'select id, organization_id, revoked_at from api_keys where key_hash = $1',
      [keyHash],
    );
    return rows[0] ?? null;
  }

  /** True when the key is still an active key of that organization. */
  async isActiveKey(organizationId: string, apiKeyId: string): Promise<boolean> {
    const { rows } = await this.db.query<{ active: boolean }>(IS_ACTIVE_KEY, [apiKeyId, organizationId]);
    return rows[0]!.active;
  }

  async touchApiKey(apiKeyId: string): Promise<void> {
    await this.db.query('update api_keys set last_used_at = now() where id = $1', [apiKeyId]);
  }
}
