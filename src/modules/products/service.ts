import { randomUUID } from 'node:crypto';
import type { Database } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import type { Tenant } from '../../http/gate.ts';
import { OrganizationRepository } from '../organizations/repository.ts';
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

  async createBundle(tenant: Tenant, input: BundleInput): Promise<ProductBundleRow> {
    await this.requireOrganization(tenant);
    return new ProductRepository(this.db, tenant).insertBundle(randomUUID(), this.fields(input));
  }

  async updateBundle(tenant: Tenant, id: string, input: Partial<BundleInput>): Promise<ProductBundleRow> {
    const repository = new ProductRepository(this.db, tenant);
    const existing = await repository.findBundle(id);
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
    return (await repository.updateBundle(id, this.fields(merged)))!;
  }

  listBundles(tenant: Tenant, isVisible?: boolean): Promise<ProductBundleRow[]> {
    return new ProductRepository(this.db, tenant).listBundles(isVisible);
  }

  /** A bundle of this organization, or null (another organization's bundle does not exist here). */
  findBundle(tenant: Tenant, id: string): Promise<ProductBundleRow | null> {
    return new ProductRepository(this.db, tenant).findBundle(id);
  }

  async createProduct(tenant: Tenant, input: ProductInput): Promise<ProductRow> {
    await this.requireOrganization(tenant);
    const repository = new ProductRepository(this.db, tenant);
    if (input.productBundleId && !(await repository.findBundle(input.productBundleId))) {
      throw new ApiError(404, 'Product bundle not found');
    }
    return repository.insertProduct(randomUUID(), {
      name: input.name,
      description: input.description ?? null,
      priceCents: input.priceCents ?? 0,
      priceUnit: input.priceUnit ?? 'USD',
      productBundleId: input.productBundleId ?? null,
    });
  }

  listProducts(tenant: Tenant, productBundleId?: string): Promise<ProductRow[]> {
    return new ProductRepository(this.db, tenant).listProducts(productBundleId);
  }

  findProduct(tenant: Tenant, id: string): Promise<ProductRow | null> {
    return new ProductRepository(this.db, tenant).findProduct(id);
  }

  private async requireOrganization(tenant: Tenant): Promise<void> {
    const exists = await new OrganizationRepository(this.db).exists(tenant.organizationId);
    if (!exists) throw new ApiError(404, 'Organization not found');
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
