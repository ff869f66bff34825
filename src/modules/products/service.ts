import { randomUUID } from 'node:crypto';
import type { Database } from '../../db/database.ts';
import { ApiError } from '../../http/envelopes.ts';
import { ProductRepository, type BundleFields, type ProductBundleRow, type ProductRow } from './repository.ts';

export interface BundleInput {
  name: string;
  description?: string | null;
  imageUrl?: string | null;
  priceCents: number;
  priceUnit?: string;
  initialDiscountCents?: number;
  isSoldOut?: boolean;
  isVisible?: boolean;
}

export interface ProductInput {
  name: string;
  description?: string | null;
  priceCents?: number;
  priceUnit?: string;
  productBundleId?: string | null;
}

export class ProductService {
  constructor(private readonly db: Database) {}

  async createBundle(organizationId: string, input: BundleInput): Promise<ProductBundleRow> {
    await this.requireOrganization(organizationId);
    return new ProductRepository(this.db).insertBundle(organizationId, randomUUID(), this.fields(input));
  }

  async updateBundle(organizationId: string, id: string, input: Partial<BundleInput>): Promise<ProductBundleRow> {
    const repository = new ProductRepository(this.db);
    const existing = await repository.findBundle(organizationId, id);
    if (!existing) throw new ApiError(404, 'Product bundle not found');
    const merged: BundleInput = {
      name: input.name ?? existing.name,
      description: input.description !== undefined ? input.description : existing.description,
      imageUrl: input.imageUrl !== undefined ? input.imageUrl : existing.image_url,
      priceCents: input.priceCents ?? existing.price_cents,
      priceUnit: input.priceUnit ?? existing.price_unit,
      initialDiscountCents: input.initialDiscountCents ?? existing.initial_discount_cents,
      isSoldOut: input.isSoldOut ?? existing.is_sold_out,
      isVisible: input.isVisible ?? existing.is_visible,
    };
    return (await repository.updateBundle(organizationId, id, this.fields(merged)))!;
  }

  listBundles(organizationId: string, isVisible?: boolean): Promise<ProductBundleRow[]> {
    return new ProductRepository(this.db).listBundles(organizationId, isVisible);
  }

  /** A bundle of this organization, or null (another organization's bundle does not exist here). */
  findBundle(organizationId: string, id: string): Promise<ProductBundleRow | null> {
    return new ProductRepository(this.db).findBundle(organizationId, id);
  }

  async createProduct(organizationId: string, input: ProductInput): Promise<ProductRow> {
    await this.requireOrganization(organizationId);
    const repository = new ProductRepository(this.db);
    if (input.productBundleId && !(await repository.findBundle(organizationId, input.productBundleId))) {
      throw new ApiError(404, 'Product bundle not found');
    }
    return repository.insertProduct(organizationId, randomUUID(), {
      name: input.name,
      description: input.description ?? null,
      priceCents: input.priceCents ?? 0,
      priceUnit: input.priceUnit ?? 'USD',
      productBundleId: input.productBundleId ?? null,
    });
  }

  listProducts(organizationId: string, productBundleId?: string): Promise<ProductRow[]> {
    return new ProductRepository(this.db).listProducts(organizationId, productBundleId);
  }

  findProduct(organizationId: string, id: string): Promise<ProductRow | null> {
    return new ProductRepository(this.db).findProduct(organizationId, id);
  }

  private async requireOrganization(organizationId: string): Promise<void> {
    const { rows } = await this.db.query('select 1 from organizations where id = $1', [organizationId]);
    if (rows.length === 0) throw new ApiError(404, 'Organization not found');
  }

  private fields(input: BundleInput): BundleFields {
    return {
      name: input.name,
      description: input.description ?? null,
      imageUrl: input.imageUrl ?? null,
      priceCents: input.priceCents,
      priceUnit: input.priceUnit ?? 'USD',
      initialDiscountCents: input.initialDiscountCents ?? 0,
      isSoldOut: input.isSoldOut ?? false,
      isVisible: input.isVisible ?? true,
    };
  }
}
