import type { Queryable } from '../../db/database.ts';
import type { Tenant } from '../../http/gate.ts';

export interface PromoCodeRow {
  id: string;
  organization_id: string | null;
  code: string;
  /** numeric(5,2) arrives as a string from pg and a number from PGlite: always read through Number(). */
  percent_discount: string | number | null;
  flat_discount_cents: number | null;
  product_bundle_id: string | null;
  expires_at: Date | null;
  max_redemptions: number | null;
  redemption_count: number;
  disabled_at: Date | null;
  created_at: Date;
}

const columns = `id, organization_id, code, percent_discount, flat_discount_cents, product_bundle_id, expires_at,
  max_redemptions, redemption_count, disabled_at, created_at`;

export class PromoCodeRepository {
  constructor(private readonly db: Queryable) {}

  async insert(row: {
    id: string;
    organizationId: string | null;
    code: string;
    percentDiscount: number | null;
    flatDiscountCents: number | null;
    productBundleId: string | null;
    expiresAt: Date | null;
    maxRedemptions: number | null;
  }): Promise<PromoCodeRow> {
    const { rows } = await this.db.query<PromoCodeRow>(
      `insert into promo_codes (id, organization_id, code, percent_discount, flat_discount_cents, product_bundle_id,
         expires_at, max_redemptions)
       values ($1, $2, $3, $4, $5, $6, $7, $8) returning ${columns}`,
      [
        row.id,
        row.organizationId,
        row.code,
        row.percentDiscount,
        row.flatDiscountCents,
        row.productBundleId,
        row.expiresAt,
        row.maxRedemptions,
      ],
    );
    return rows[0]!;
  }

  /** The organization's own code with this text, else the global one; case-insensitive. */
  async findForOrganization(tenant: Tenant, code: string): Promise<PromoCodeRow | null> {
    const { rows } = await this.db.query<PromoCodeRow>(
      `select ${columns} from promo_codes
        where lower(code) = lower($2) and (organization_id = $1 or organization_id is null)
        order by organization_id is null, created_at
        limit 1`,
      [tenant.organizationId, code],
    );
    return rows[0] ?? null;
  }

  /** Global codes are listed with every organization's. */
  async list(organizationId: string | null): Promise<PromoCodeRow[]> {
    const { rows } = await this.db.query<PromoCodeRow>(
      `select ${columns} from promo_codes
        where ($1::uuid is null or organization_id = $1 or organization_id is null)
        order by created_at, id`,
      [organizationId],
    );
    return rows;
  }

  async disable(id: string): Promise<PromoCodeRow | null> {
    const { rows } = await this.db.query<PromoCodeRow>(
      `update promo_codes set disabled_at = coalesce(disabled_at, now()) where id = $1 returning ${columns}`,
      [id],
    );
    return rows[0] ?? null;
  }

  /** Counts one use, atomically, unless that would pass the limit. False when used up. */
  async redeem(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `update promo_codes set redemption_count = redemption_count + 1
        where id = $1 and (max_redemptions is null or redemption_count < max_redemptions)`,
      [id],
    );
    return rowCount > 0;
  }
}
