import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { Tenant } from '../../http/gate.ts';
import { OrganizationRepository } from '../organizations/repository.ts';
import { ProductRepository } from '../products/repository.ts';
import { PromoCodeRepository, type PromoCodeRow } from './repository.ts';

export type Discount = { percentDiscount: number } | { flatDiscount: number };

export interface PromoCodeInput {
  /** null: a global code, valid for every organization. */
  organizationId: string | null;
  code: string;
  percentDiscount?: number;
  /** Cents. */
  flatDiscountCents?: number;
  productBundleId?: string | null;
  expiresAt?: Date | null;
  maxRedemptions?: number | null;
}

export const PROMO_CODE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Why a code does not apply, for callers that report it (intake); the public lookup answers data: []. */
export type PromoRejection = 'unknown' | 'disabled' | 'expired' | 'used_up' | 'wrong_bundle';

export class PromoCodeService {
  constructor(private readonly db: Database) {}

  async create(input: PromoCodeInput): Promise<PromoCodeRow> {
    if (!PROMO_CODE_PATTERN.test(input.code)) {
      throw new ApiError(400, 'code must be 1-64 letters, digits, "-" or "_"');
    }
    if ((input.percentDiscount === undefined) === (input.flatDiscountCents === undefined)) {
      throw new ApiError(400, 'Give exactly one of percentDiscount and flatDiscount');
    }
    if (input.percentDiscount !== undefined && !(input.percentDiscount > 0 && input.percentDiscount <= 100)) {
      throw new ApiError(400, 'percentDiscount must be more than 0 and at most 100');
    }
    if (input.flatDiscountCents !== undefined && !(input.flatDiscountCents > 0)) {
      throw new ApiError(400, 'flatDiscount must be positive');
    }
    if (input.organizationId && !(await new OrganizationRepository(this.db).exists(input.organizationId))) {
      throw new ApiError(404, 'Organization not found');
    }
    if (input.productBundleId) {
      if (!input.organizationId) throw new ApiError(400, 'A global code cannot be limited to one bundle');
      const tenant = Tenant.forOperator(input.organizationId, 'the operator limits a promo code to its bundle');
      const bundle = await new ProductRepository(this.db, tenant).findBundle(input.productBundleId);
      if (!bundle) throw new ApiError(404, 'Product bundle not found');
    }
    try {
      return await new PromoCodeRepository(this.db).insert({
        id: randomUUID(),
        organizationId: input.organizationId,
        code: input.code,
        percentDiscount: input.percentDiscount ?? null,
        flatDiscountCents: input.flatDiscountCents ?? null,
        productBundleId: input.productBundleId ?? null,
        expiresAt: input.expiresAt ?? null,
        maxRedemptions: input.maxRedemptions ?? null,
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw new ApiError(409, 'A promo code with this text already exists in this scope');
      throw error;
    }
  }

  list(organizationId: string | null): Promise<PromoCodeRow[]> {
    return new PromoCodeRepository(this.db).list(organizationId);
  }

  async disable(id: string): Promise<PromoCodeRow> {
    const row = await new PromoCodeRepository(this.db).disable(id);
    if (!row) throw new ApiError(404, 'Promo code not found');
    return row;
  }

  /**
   * The code as this organization may use it now, for this bundle (when given), or why not.
   * A bundle-scoped code applies only when that bundle is named; an unscoped code applies to any bundle.
   */
  async evaluate(
    tenant: Tenant,
    code: string,
    productBundleId: string | undefined,
    connection: Queryable = this.db,
  ): Promise<{ ok: true; row: PromoCodeRow; discount: Discount } | { ok: false; reason: PromoRejection }> {
    const row = await new PromoCodeRepository(connection).findForOrganization(tenant, code);
    if (!row) return { ok: false, reason: 'unknown' };
    if (row.disabled_at) return { ok: false, reason: 'disabled' };
    if (row.expires_at && row.expires_at.getTime() <= Date.now()) return { ok: false, reason: 'expired' };
    if (row.max_redemptions !== null && row.redemption_count >= row.max_redemptions) {
      return { ok: false, reason: 'used_up' };
    }
    if (row.product_bundle_id && row.product_bundle_id !== productBundleId)
      return { ok: false, reason: 'wrong_bundle' };
    return { ok: true, row, discount: discountOf(row) };
  }

  /** Counts one use inside the caller's transaction; false when the limit was reached meanwhile. */
  redeem(connection: Queryable, promoCodeId: string): Promise<boolean> {
    return new PromoCodeRepository(connection).redeem(promoCodeId);
  }

  /** Counts one use of each code, all or none (an intake reserves them before its card is charged). */
  async redeemAll(connection: Queryable, codes: PromoCodeRow[]): Promise<{ ok: true } | { ok: false; code: string }> {
    for (const code of codes) if (!(await this.redeem(connection, code.id))) return { ok: false, code: code.code };
    return { ok: true };
  }
}

export function discountOf(row: PromoCodeRow): Discount {
  return row.percent_discount !== null
    ? { percentDiscount: Number(row.percent_discount) }
    : { flatDiscount: (row.flat_discount_cents ?? 0) / 100 };
}

/** A code's discount in cents on an amount in cents: percent rounded to the cent, flat capped at the amount. */
export function discountCents(amountCents: number, row: PromoCodeRow): number {
  if (row.percent_discount !== null) return Math.round((amountCents * Number(row.percent_discount)) / 100);
  return Math.min(amountCents, row.flat_discount_cents ?? 0);
}
