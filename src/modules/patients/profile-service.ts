import { z } from 'zod';
import type { PhiCipher } from '../../crypto/phi.ts';
import { isUniqueViolation, type Database, type Queryable } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import type { Tenant } from '../../http/gate.ts';
import { intakeFieldRules, LANGUAGE_CODE, shippingAddressSchema } from '../cases/schemas.ts';
import { validationError } from '../cases/validation.ts';
import type { ShippingAddress } from './repository.ts';

/** The actions of POST /api/v1/users that this server serves. */
export const USER_ACTIONS = ['UPDATE_PROFILE', 'UPDATE_EMAIL', 'UPDATE_PAYMENT_INFO'] as const;

/** The statuses of a case assigned to a provider: its patient's identity fields are then locked. */
const ASSIGNED_STATUSES = ['ASSIGNED', 'IN_PROGRESS', 'APPROVED', 'REJECTED', 'NO_DECISION'];

/** The fields ID verification checks before a case is assigned: locked afterwards (the Update Profile page). */
export const IDENTITY_FIELDS = ['firstName', 'lastName', 'dob', 'gender'] as const;

const PO_BOX = /\bp\.?\s*o\.?\s*box\b|\bpost\s+office\s+box\b/i;
const POSTAL_CODE = /^\d{5}(-\d{4})?$/;
const E164 = /^\+[1-9]\d{1,14}$/;

const text = (max: number) =>
  z
    .string({ error: 'Must be a string' })
    .refine(intakeFieldRules.notBlank, { message: 'Must not be empty' })
    .refine((value) => value.length <= max, { message: `Must be at most ${max} characters` })
    .refine((value) => !value.includes('\u0000'), { message: 'Must not contain NUL characters' });

/** A health field: free text, or a list of entries (stored sealed, as PHI). */
const healthField = z.union([text(5000), z.array(text(500)).max(100, 'At most 100 entries')], {
  error: 'Must be a string or an array of strings',
});

const email = z
  .email({
    error: (issue) => (issue.input === undefined || issue.input === null ? 'Required' : 'Invalid email address'),
  })
  .max(254, 'Must be at most 254 characters');

export const updateProfileDataSchema = z.object({
  email,
  firstName: text(100).optional(),
  lastName: text(100).optional(),
  dob: z
    .string({ error: 'Must be a string' })
    .refine((value) => value !== '' && intakeFieldRules.dateOfBirth(value), {
      message: 'Must be a real date in YYYY-MM-DD format, not in the future',
    })
    .optional(),
  gender: z
    .string({ error: 'Must be a string' })
    .refine((value) => ['MALE', 'FEMALE', 'OTHER'].includes(value.trim().toUpperCase()), {
      message: 'Must be MALE, FEMALE or OTHER',
    })
    .optional(),
  phoneNumber: z
    .string({ error: 'Must be a string' })
    .regex(E164, 'Must be in E.164 format, e.g. +1234567890')
    .optional(),
  address: text(200)
    .refine((value) => !PO_BOX.test(value), { message: 'Must not be a PO Box' })
    .optional(),
  address2: text(200).nullable().optional(),
  city: text(100).optional(),
  state: text(2)
    .refine((value) => /^[A-Za-z]{2}$/.test(value), { message: 'Must be a 2-letter state code, e.g. "NY"' })
    .optional(),
  country: text(2)
    .refine(intakeFieldRules.countryCode, { message: 'Must be a 2-letter country code, e.g. "US"' })
    .optional(),
  postalCode: z.string({ error: 'Must be a string' }).regex(POSTAL_CODE, 'Must be 12345 or 12345-6789').optional(),
  allergies: healthField.optional(),
  currentMedications: healthField.optional(),
  healthConditions: healthField.optional(),
  languagePreferences: z
    .array(z.string({ error: 'Must be a string' }).regex(LANGUAGE_CODE, 'Must be a language code, e.g. "en" or "es"'), {
      error: 'Must be an array of language codes',
    })
    .max(20, 'At most 20 languages')
    .optional(),
});
export type UpdateProfileData = z.infer<typeof updateProfileDataSchema>;

export const updateEmailDataSchema = z.object({ currentEmail: email, newEmail: email });
export type UpdateEmailData = z.infer<typeof updateEmailDataSchema>;

/** An empty string is a token not sent (the page's example sends both fields, one of them empty). */
const token = (max: number) =>
  z.preprocess((value) => (value === '' || value === null ? undefined : value), text(max).optional());

/**
 * UPDATE_PAYMENT_INFO's data: exactly one of `stripeSetupId` or `nmiPaymentToken`; the patient's `email` here or
 * at the top level of the body (the page's examples put it there); an optional new shipping address.
 */
export const updatePaymentInfoDataSchema = z
  .object({
    email: email.optional(),
    stripeSetupId: token(255),
    nmiPaymentToken: token(4096),
    shippingAddress: shippingAddressSchema.optional(),
  })
  .superRefine((data, context) => {
    if ((data.stripeSetupId === undefined) === (data.nmiPaymentToken === undefined)) {
      context.addIssue({
        code: 'custom',
        path: ['stripeSetupId'],
        message: 'Send exactly one of stripeSetupId or nmiPaymentToken',
      });
    }
  });
export type UpdatePaymentInfoData = z.infer<typeof updatePaymentInfoDataSchema>;

/** The user object of the users pages (UPDATE_EMAIL's 200 shows it); absent fields are null. */
export interface UserObject {
  email: string;
  firstName: string;
  lastName: string;
  dob: string | null;
  phoneNumber: string | null;
  gender: string | null;
  address: string | null;
  address2: string | null;
  city: string | null;
  state: string | null;
  country: string | null;
  postalCode: string | null;
}

interface ProfileRow {
  id: string;
  email: string;
  first_name: string;
  last_name: string;
  dob: string | null;
  gender: string | null;
  phone_number: string | null;
  shipping_address: Partial<ShippingAddress> | null;
  health_sealed: string | null;
  assigned: boolean;
}

/** The data of an action, checked by its schema: a refusal names the field as `data.<field>`. */
export function parseData<T>(schema: z.ZodType<T>, data: unknown): T {
  const parsed = schema.safeParse(data ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = ['data', ...issue.path.map(String)].join('.');
    throw validationError(path, issue.message);
  }
  return parsed.data;
}

const normalEmail = (value: string) => value.trim().toLowerCase();

export const userNotFound = (email: string) => new ApiError(400, `User ${email} does not exist`);

function userOf(row: ProfileRow): UserObject {
  const address = row.shipping_address ?? {};
  return {
    email: row.email,
    firstName: row.first_name,
    lastName: row.last_name,
    dob: row.dob,
    phoneNumber: row.phone_number,
    gender: row.gender,
    address: address.addressLine1 ?? null,
    address2: address.addressLine2 ?? null,
    city: address.city ?? null,
    state: address.state ?? null,
    country: address.country ?? null,
    postalCode: address.postalCode ?? null,
  };
}

/**
 * POST /api/v1/users: a partner updates its patient's profile (UPDATE_PROFILE) or email (UPDATE_EMAIL). Only
 * the calling organization's patients are found; each change locks the patient row for its transaction.
 */
export class UserProfileService {
  constructor(
    private readonly db: Database,
    private readonly cipher: PhiCipher,
  ) {}

  /**
   * The patient with this email, locked, and whether one of its cases is assigned to a provider. Two statements:
   * the check runs after the lock is held, so it sees an assignment that held the patient row (staff assignments
   * take it `for key share`: src/modules/staff/case-queue.ts) and committed while this waited. In one statement
   * its snapshot would predate that commit, and an identity change could land after the assignment.
   */
  private async lock(tx: Queryable, tenant: Tenant, emailAddress: string): Promise<ProfileRow | null> {
    const { rows } = await tx.query<Omit<ProfileRow, 'assigned'>>(
      `select p.id, p.email, p.first_name, p.last_name, to_char(p.dob, 'YYYY-MM-DD') as dob, p.gender,
              p.phone_number, p.shipping_address, p.health_sealed
         from patients p where p.organization_id = $1 and p.email = $2 for update of p`,
      [tenant.organizationId, emailAddress],
    );
    const row = rows[0];
    if (!row) return null;
    const { rows: assigned } = await tx.query(
      `select 1 from cases c
        where c.organization_id = $1 and c.patient_id = $2
          and (c.assigned_at is not null or c.status = any($3::text[]))
        limit 1`,
      [tenant.organizationId, row.id, ASSIGNED_STATUSES],
    );
    return { ...row, assigned: assigned.length > 0 };
  }

  /**
   * UPDATE_PROFILE: the fields sent replace the stored ones (`address2: null` clears it; the address fields
   * are the patient's shipping address). Once a case of the patient is assigned, a change of name, date of
   * birth or gender is refused (the same value again is no change). Returns the patient id and user object.
   */
  async updateProfile(tenant: Tenant, data: UpdateProfileData): Promise<{ patientId: string; user: UserObject }> {
    const emailAddress = normalEmail(data.email);
    const changes = {
      firstName: data.firstName?.trim(),
      lastName: data.lastName?.trim(),
      dob: data.dob,
      gender: data.gender?.trim().toUpperCase(),
    };
    const health =
      data.allergies !== undefined || data.currentMedications !== undefined || data.healthConditions !== undefined;
    return this.db.transaction(async (tx) => {
      const row = await this.lock(tx, tenant, emailAddress);
      if (!row) throw userNotFound(data.email);
      if (row.assigned) {
        const current = { firstName: row.first_name, lastName: row.last_name, dob: row.dob, gender: row.gender };
        const locked = IDENTITY_FIELDS.filter(
          (field) => changes[field] !== undefined && changes[field] !== current[field],
        );
        if (locked.length > 0) {
          throw new ApiError(
            400,
            `${locked.join(', ')} can't be changed once a case is assigned to a provider; contact support`,
          );
        }
      }
      const address: Partial<ShippingAddress> = { ...(row.shipping_address ?? {}) };
      const set = (field: keyof ShippingAddress, value: string | undefined) => {
        if (value !== undefined) address[field] = value.trim();
      };
      set('addressLine1', data.address);
      if (data.address2 === null) delete address.addressLine2;
      else set('addressLine2', data.address2);
      set('city', data.city);
      set('state', data.state?.toUpperCase());
      set('country', data.country?.toUpperCase());
      set('postalCode', data.postalCode);
      let healthSealed = row.health_sealed;
      if (health) {
        const stored = healthSealed
          ? (JSON.parse(await this.cipher.decryptText(healthSealed)) as Record<string, unknown>)
          : {};
        const merged = {
          ...stored,
          ...(data.allergies === undefined ? {} : { allergies: data.allergies }),
          ...(data.currentMedications === undefined ? {} : { currentMedications: data.currentMedications }),
          ...(data.healthConditions === undefined ? {} : { healthConditions: data.healthConditions }),
        };
        healthSealed = await this.cipher.encryptText(JSON.stringify(merged));
      }
      const { rows } = await tx.query<ProfileRow>(
        `update patients set
           first_name = coalesce($3, first_name),
           last_name = coalesce($4, last_name),
           dob = coalesce($5::date, dob),
           gender = coalesce($6, gender),
           phone_number = coalesce($7, phone_number),
           shipping_address = $8::jsonb,
           language_preferences = coalesce($9::jsonb, language_preferences),
           health_sealed = $10,
           updated_at = now()
         where organization_id = $1 and id = $2
         returning id, email, first_name, last_name, to_char(dob, 'YYYY-MM-DD') as dob, gender, phone_number,
                   shipping_address, health_sealed, false as assigned`,
        [
          tenant.organizationId,
          row.id,
          changes.firstName ?? null,
          changes.lastName ?? null,
          changes.dob ?? null,
          changes.gender ?? null,
          data.phoneNumber ?? null,
          Object.keys(address).length === 0 ? null : JSON.stringify(address),
          data.languagePreferences ? JSON.stringify(data.languagePreferences) : null,
          healthSealed,
        ],
      );
      return { patientId: row.id, user: userOf(rows[0]!) };
    });
  }

  /** UPDATE_EMAIL: allowed at any time; a new email another patient of the organization has is refused. */
  async updateEmail(tenant: Tenant, data: UpdateEmailData): Promise<{ patientId: string; user: UserObject }> {
    const currentEmail = normalEmail(data.currentEmail);
    const newEmail = normalEmail(data.newEmail);
    const taken = () => new ApiError(400, `User ${data.newEmail} already exists`);
    try {
      return await this.db.transaction(async (tx) => {
        const row = await this.lock(tx, tenant, currentEmail);
        if (!row) throw userNotFound(data.currentEmail);
        if (newEmail === currentEmail) return { patientId: row.id, user: userOf(row) };
        const { rows } = await tx.query<ProfileRow>(
          `update patients set email = $3, updated_at = now()
            where organization_id = $1 and id = $2
            returning id, email, first_name, last_name, to_char(dob, 'YYYY-MM-DD') as dob, gender, phone_number,
                      shipping_address, health_sealed, false as assigned`,
          [tenant.organizationId, row.id, newEmail],
        );
        return { patientId: row.id, user: userOf(rows[0]!) };
      });
    } catch (error) {
      if (isUniqueViolation(error, 'patients_organization_email_unique')) throw taken();
      throw error;
    }
  }
}
