import type { Queryable } from '../../db/database.ts';
import type { Tenant } from '../../http/gate.ts';

export interface ProductBundleRow {
  id: string;
  organization_id: string;
  name: string;
  description: string | null;
  image_url: string | null;
  price_cents: number;
  price_unit: string;
  initial_discount_cents: number;
  is_sold_out: boolean;
  is_visible: boolean;
  created_at: Date;
  updated_at: Date;
}

export interface ProductRow {
  id: string;
  organization_id: string;
  product_bundle_id: string | null;
  name: string;
  description: string | null;
  price_cents: number;
  price_unit: string;
  created_at: Date;
}

const bundleColumns = `id, organization_id, name, description, image_url, price_cents, price_unit,
  initial_discount_cents, is_sold_out, is_visible, created_at, updated_at`;
const productColumns = `id, organization_id, product_bundle_id, name, description, price_cents, price_unit, created_at`;

export type BundleFields = {
  name: string;
  description: string | null;
  imageUrl: string | null;
  priceCents: number;
  priceUnit: string;
  initialDiscountCents: number;
  isSoldOut: boolean;
  isVisible: boolean;
};

/** Product bundles and products; every statement is scoped by organization id. */
export class ProductRepository {
  private readonly organizationId: string;

  constructor(
    private readonly db: Queryable,
    tenant: Tenant,
  ) {
    this.organizationId = tenant.organizationId;
  }

  async insertBundle(id: string, fields: BundleFields): Promise<ProductBundleRow> {
    const { rows } = await this.db.query<ProductBundleRow>(
      `insert into product_bundles (id, organization_id, name, description, image_url, price_cents, price_unit,
         initial_discount_cents, is_sold_out, is_visible)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning ${bundleColumns}`,
      [
        id,
        this.organizationId,
        fields.name,
        fields.description,
        fields.imageUrl,
        fields.priceCents,
        fields.priceUnit,
        fields.initialDiscountCents,
        fields.isSoldOut,
        fields.isVisible,
      ],
    );
    return rows[0]!;
  }

  async updateBundle(id: string, fields: BundleFields): Promise<ProductBundleRow | null> {
    const { rows } = await this.db.query<ProductBundleRow>(
      `update product_bundles set name = $3, description = $4, image_url = $5, price_cents = $6, price_unit = $7,
         initial_discount_cents = $8, is_sold_out = $9, is_visible = $10, updated_at = now()
       where organization_id = $1 and id = $2 returning ${bundleColumns}`,
      [
        this.organizationId,
        id,
        fields.name,
        fields.description,
        fields.imageUrl,
        fields.priceCents,
        fields.priceUnit,
        fields.initialDiscountCents,
        fields.isSoldOut,
        fields.isVisible,
      ],
    );
    return rows[0] ?? null;
  }

  async listBundles(isVisible?: boolean): Promise<ProductBundleRow[]> {
    const { rows } = await this.db.query<ProductBundleRow>(
      `select ${bundleColumns} from product_bundles
        where organization_id = $1 and ($2::boolean is null or is_visible = $2)
        order by created_at, id`,
      [this.organizationId, isVisible ?? null],
    );
    return rows;
  }

  async findBundle(id: string): Promise<ProductBundleRow | null> {
    const { rows } = await this.db.query<ProductBundleRow>(
      `select ${bundleColumns} from product_bundles where organization_id = $1 and id = $2`,
      [this.organizationId, id],
    );
    return rows[0] ?? null;
  }

  async insertProduct(
    id: string,
    fields: {
      name: string;
      description: string | null;
      priceCents: number;
      priceUnit: string;
      productBundleId: string | null;
    },
  ): Promise<ProductRow> {
    const { rows } = await this.db.query<ProductRow>(
      `insert into products (id, organization_id, product_bundle_id, name, description, price_cents, price_unit)
       values ($1, $2, $3, $4, $5, $6, $7) returning ${productColumns}`,
      [
        id,
        this.organizationId,
        fields.productBundleId,
        fields.name,
        fields.description,
        fields.priceCents,
        fields.priceUnit,
      ],
    );
    return rows[0]!;
  }

  async listProducts(productBundleId?: string): Promise<ProductRow[]> {
    const { rows } = await this.db.query<ProductRow>(
      `select ${productColumns} from products
        where organization_id = $1 and ($2::uuid is null or product_bundle_id = $2)
        order by created_at, id`,
      [this.organizationId, productBundleId ?? null],
    );
    return rows;
  }

  async findProduct(id: string): Promise<ProductRow | null> {
    const { rows } = await this.db.query<ProductRow>(
      `select ${productColumns} from products where organization_id = $1 and id = $2`,
      [this.organizationId, id],
    );
    return rows[0] ?? null;
  }
}
