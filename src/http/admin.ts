import { Tenant } from './gate.ts';

/**
 * The admin API acts across organizations: a route names the organization in its path, and this is where
 * that path parameter becomes the organization its repositories are scoped to.
 */
export function organizationOfAdminPath(organizationId: string): Tenant {
  return Tenant.forOperator(organizationId, 'the admin API names the organization in its path');
}

/**
 * The security of every admin route: the ADMIN_TOKEN bearer, or the session of a staff ADMIN who works for every
 * organization (the gate's `authenticateAdmin`).
 */
export const ADMIN_SECURITY: { [scheme: string]: string[] }[] = [{ adminToken: [] }, { staffSession: [] }];
