import { Tenant } from './gate.ts';

/**
 * The admin API acts across organizations: a route names the organization in its path, and this is where
 * that path parameter becomes the organization its repositories are scoped to.
 */
export function organizationOfAdminPath(organizationId: string): Tenant {
  return Tenant.forOperator(organizationId, 'the admin API names the organization in its path');
}
