/** The clinic's roles (docs/api/staff.md). */
export const STAFF_ROLES = ['ADMIN', 'PROVIDER', 'SUPPORT'] as const;
export type StaffRole = (typeof STAFF_ROLES)[number];

/**
 * What a staff route may do; every staff route declares one (`config.staffPermission`), and the gate refuses a
 * role without it. `session`: anything a signed-in member does for their own account (sign out, second factor).
 */
export const STAFF_PERMISSIONS = [
  'session',
  'cases.read',
  'cases.assign',
  'cases.status',
  'cases.comment',
  'cases.decide',
  'cases.payments',
  'staff.manage',
] as const;
export type StaffPermission = (typeof STAFF_PERMISSIONS)[number];

/**
 * The role matrix. `cases.payments`: capture, release and refund a case's payments (ADMIN and SUPPORT: billing
 * follow-up is support work; a PROVIDER decides, and the decision drives charges through the payments' own rules).
 * `staff.manage`: an organization's settings for its staff (requiring TOTP), ADMIN only. ADMIN
 * does everything but decide: a decision is a clinical act, made only by a PROVIDER
 * assigned to the case and licensed in the patient's state (the service checks those two).
 */
export const ROLE_PERMISSIONS: Record<StaffRole, readonly StaffPermission[]> = {
  ADMIN: ['session', 'cases.read', 'cases.assign', 'cases.status', 'cases.comment', 'cases.payments', 'staff.manage'],
  PROVIDER: ['session', 'cases.read', 'cases.assign', 'cases.status', 'cases.comment', 'cases.decide'],
  SUPPORT: ['session', 'cases.read', 'cases.assign', 'cases.status', 'cases.comment', 'cases.payments'],
};

export const roleMay = (role: StaffRole, permission: StaffPermission): boolean =>
  ROLE_PERMISSIONS[role].includes(permission);
