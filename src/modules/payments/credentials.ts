import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { PaymentsConfig } from '../../config.ts';
import type { PhiCipher } from '../../crypto/phi.ts';
import type { Database, Queryable } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import type { Tenant } from '../../http/gate.ts';
import { OrganizationRepository } from '../organizations/repository.ts';
import { createGateways, type Gateways } from './gateways/index.ts';

/**
 * An organization's own gateway accounts: "NMI as a gateway with either our payment processor or your own".
 * Each credential is sealed with the PHI key ring (so `phi rotate` seals it again) and never answered once
 * set: only that it is set and its last four characters. An organization without its own Stripe secret key
 * uses the server's Stripe account (or the simulated gateway), and without its own NMI security key the
 * server's NMI account.
 */
export const GATEWAY_CREDENTIAL_NAMES = [
  'stripeSecretKey',
  'stripeWebhookSecret',
  'stripePublishableKey',
  'nmiSecurityKey',
  'nmiTokenizationKey',
] as const;

export type GatewayCredentialName = (typeof GATEWAY_CREDENTIAL_NAMES)[number];

/** The credentials that belong with an account's own key: they mean nothing without it. */
const ACCOUNT_KEY: Record<GatewayCredentialName, GatewayCredentialName> = {
  stripeSecretKey: 'stripeSecretKey',
  stripeWebhookSecret: 'stripeSecretKey',
  stripePublishableKey: 'stripeSecretKey',
  nmiSecurityKey: 'nmiSecurityKey',
  nmiTokenizationKey: 'nmiSecurityKey',
};

const token = (pattern: RegExp, message: string) =>
  z.string({ error: 'Must be a string' }).trim().max(500, 'Must be at most 500 characters').regex(pattern, message);

/** Each credential's shape; null removes it. The shapes keep a secret key out of a publishable key's place. */
export const gatewayCredentialsBody = z
  .object({
    stripeSecretKey: token(
      /^(sk|rk)_(test|live)_[A-Za-z0-9_]+$/,
      'Must be a Stripe secret or restricted key (sk_test_..., sk_live_..., rk_...)',
    ).nullish(),
    stripeWebhookSecret: token(
      /^whsec_[A-Za-z0-9_+/=]+$/,
      'Must be a Stripe webhook signing secret (whsec_...)',
    ).nullish(),
    stripePublishableKey: token(
      /^pk_(test|live)_[A-Za-z0-9_]+$/,
      'Must be a Stripe publishable key (pk_test_... or pk_live_...)',
    ).nullish(),
    nmiSecurityKey: token(/^[A-Za-z0-9_-]{8,}$/, 'Must be an NMI security key (letters, digits, _ and -)').nullish(),
    nmiTokenizationKey: token(
      /^[A-Za-z0-9_-]{8,}$/,
      'Must be an NMI Collect.js tokenization key (letters, digits, _ and -)',
    ).nullish(),
  })
  .strict();

export type GatewayCredentialsInput = z.infer<typeof gatewayCredentialsBody>;

/** What is answered about a credential: whether it is set, and its last four characters. */
export type CredentialView = { set: false } | { set: true; last4: string; updatedAt: string };

export type GatewayCredentialsView = Record<GatewayCredentialName, CredentialView>;

interface CredentialRow {
  name: GatewayCredentialName;
  secret_sealed: string;
  last4: string;
  updated_at: Date;
}

async function sealedRows(db: Queryable, organizationId: string): Promise<CredentialRow[]> {
  const { rows } = await db.query<CredentialRow>(
    `select name, secret_sealed, last4, updated_at from organization_gateway_credentials
      where organization_id = $1 order by name`,
    [organizationId],
  );
  return rows;
}

/** Whether the organization has its own Stripe account (its events then arrive at its own webhook URL). */
export async function hasOwnStripeAccount(db: Queryable, organizationId: string): Promise<boolean> {
  const { rows } = await db.query<{ own: boolean }>(
    `select exists (select 1 from organization_gateway_credentials
                     where organization_id = $1 and name = 'stripeSecretKey') as own`,
    [organizationId],
  );
  return rows[0]!.own;
}

/** Sets, removes and describes an organization's gateway credentials (admin API and CLI). */
export class GatewayCredentialStore {
  constructor(
    private readonly db: Database,
    private readonly cipher: PhiCipher,
  ) {}

  async describe(tenant: Tenant): Promise<GatewayCredentialsView> {
    await this.requireOrganization(tenant);
    return viewOf(await sealedRows(this.db, tenant.organizationId));
  }

  /**
   * Applies the given fields (a string sets, null removes, absent leaves as is) in one transaction. A
   * publishable key, webhook secret or tokenization key needs its account's own key, set now or before:
   * else the storefront would load one account's key while the server charges another's.
   */
  async update(tenant: Tenant, input: GatewayCredentialsInput): Promise<GatewayCredentialsView> {
    await this.requireOrganization(tenant);
    const given = GATEWAY_CREDENTIAL_NAMES.filter((name) => input[name] !== undefined);
    if (given.length === 0) throw new ApiError(400, `Give at least one of ${GATEWAY_CREDENTIAL_NAMES.join(', ')}`);
    // Sealed before the transaction: sealing may read the key ring.
    const sealed = new Map<GatewayCredentialName, string>();
    for (const name of given) {
      const value = input[name];
      if (value) sealed.set(name, await this.cipher.encryptText(value));
    }
    return this.db.transaction(async (tx) => {
      // One organization's credentials change one request at a time: the check below sees the final state.
      await tx.query('select id from organizations where id = $1 for update', [tenant.organizationId]);
      for (const name of given) {
        const value = input[name];
        if (value) {
          await tx.query(
            `insert into organization_gateway_credentials (id, organization_id, name, secret_sealed, last4)
             values ($1, $2, $3, $4, $5)
             on conflict (organization_id, name)
             do update set secret_sealed = excluded.secret_sealed, last4 = excluded.last4, updated_at = now()`,
            [randomUUID(), tenant.organizationId, name, sealed.get(name)!, value.slice(-4)],
          );
        } else {
          await tx.query('delete from organization_gateway_credentials where organization_id = $1 and name = $2', [
            tenant.organizationId,
            name,
          ]);
        }
      }
      const rows = await sealedRows(tx, tenant.organizationId);
      const present = new Set(rows.map((row) => row.name));
      for (const row of rows) {
        const key = ACCOUNT_KEY[row.name];
        if (!present.has(key)) throw new ApiError(400, `${row.name} needs ${key}: set both, or remove ${row.name}`);
      }
      return viewOf(rows);
    });
  }

  private async requireOrganization(tenant: Tenant): Promise<void> {
    if (!(await new OrganizationRepository(this.db).exists(tenant.organizationId))) {
      throw new ApiError(404, 'Organization not found');
    }
  }
}

function viewOf(rows: CredentialRow[]): GatewayCredentialsView {
  const view = Object.fromEntries(GATEWAY_CREDENTIAL_NAMES.map((name) => [name, { set: false }])) as Record<
    GatewayCredentialName,
    CredentialView
  >;
  for (const row of rows) view[row.name] = { set: true, last4: row.last4, updatedAt: row.updated_at.toISOString() };
  return view;
}

/** The payment settings one organization's payments run with: its own accounts over the server's. */
export function organizationPaymentsConfig(
  server: PaymentsConfig,
  own: Partial<Record<GatewayCredentialName, string>>,
): PaymentsConfig {
  return {
    ...server,
    ...(own.stripeSecretKey
      ? {
          stripeSecretKey: own.stripeSecretKey,
          // Never the server's: they belong to another Stripe account.
          stripeWebhookSecret: own.stripeWebhookSecret,
          stripePublishableKey: own.stripePublishableKey,
        }
      : {}),
    ...(own.nmiSecurityKey ? { nmiSecurityKey: own.nmiSecurityKey, nmiTokenizationKey: own.nmiTokenizationKey } : {}),
  };
}

/** An organization's gateways, and the payment settings they were built from. */
export interface OrganizationGateways {
  gateways: Gateways;
  config: PaymentsConfig;
  /** Whether the organization has its own Stripe account (its webhooks arrive at its own URL). */
  ownStripe: boolean;
}

/**
 * Which gateways serve an organization. Without credentials of its own, the server's (one shared set);
 * with them, gateways built from its own accounts over the server's settings, kept until its credentials
 * change (one small query a call tells). Records made through the server's gateways stay reachable by name.
 */
export class GatewayDirectory {
  private readonly cache = new Map<string, { stamp: string; built: OrganizationGateways }>();

  constructor(
    private readonly db: Queryable,
    private readonly cipher: PhiCipher,
    private readonly config: PaymentsConfig,
    readonly server: Gateways,
    private readonly wrap: (gateways: Gateways) => Gateways = (gateways) => gateways,
  ) {}

  async forOrganization(organizationId: string): Promise<Gateways> {
    return (await this.resolve(organizationId)).gateways;
  }

  async resolve(organizationId: string): Promise<OrganizationGateways> {
    const rows = await sealedRows(this.db, organizationId);
    if (!rows.some((row) => row.name === 'stripeSecretKey' || row.name === 'nmiSecurityKey')) {
      this.cache.delete(organizationId);
      const own: Partial<Record<GatewayCredentialName, string>> = {};
      return { gateways: this.server, config: organizationPaymentsConfig(this.config, own), ownStripe: false };
    }
    const stamp = rows.map((row) => `${row.name}=${row.secret_sealed}`).join('\n');
    const cached = this.cache.get(organizationId);
    if (cached?.stamp === stamp) return cached.built;
    const own: Partial<Record<GatewayCredentialName, string>> = {};
    for (const row of rows) own[row.name] = await this.cipher.decryptText(row.secret_sealed);
    const config = organizationPaymentsConfig(this.config, own);
    const created = this.wrap(createGateways(config, this.db));
    const gateways: Gateways = { ...created, byName: { ...this.server.byName, ...created.byName } };
    const built = { gateways, config, ownStripe: Boolean(own.stripeSecretKey) };
    this.cache.set(organizationId, { stamp, built });
    return built;
  }
}
