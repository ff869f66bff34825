import type { Queryable } from '../../db/database.ts';
import type { Tenant } from '../../http/gate.ts';

export interface ShippingAddress {
  addressLine1: string;
  addressLine2?: string;
  city: string;
  state: string;
  country: string;
  postalCode: string;
}

/** The patient profile carried by an intake, normalized. Undefined fields were not sent. */
export interface PatientProfile {
  email: string;
  firstName: string;
  lastName: string;
  dob?: string;
  gender?: 'MALE' | 'FEMALE';
  phoneNumber?: string;
  passwordHash?: string;
  shippingAddress?: ShippingAddress;
  languagePreferences?: string[];
}

export interface PatientRow {
  id: string;
  email: string;
  first_name: string;
  last_name: string;
  dob: string | null;
  gender: string | null;
  phone_number: string | null;
  password_hash: string | null;
  shipping_address: ShippingAddress | null;
  language_preferences: string[] | null;
}

/**
 * Creates the patient, or updates the organization's patient with that email: names always take the
 * latest intake's values; the other profile fields only when sent; an existing password is never
 * replaced by an intake. Locks the patient row until the transaction ends. Parameters $1 to $11 are
 * `patientUpsertParams`; it returns the patient id. The intake runs it inside one statement with the
 * case it belongs to (CaseRepository.insertIntake), from `source`: a relation of one row to upsert
 * the patient, or of none to write nothing.
 */
export const patientUpsert = (source: string) => `insert into patients (id, organization_id, email, first_name,
                             last_name, dob, gender, phone_number, password_hash, shipping_address,
                             language_preferences)
       select $1::uuid, $2::uuid, $3::text, $4::text, $5::text, $6::date, $7::text, $8::text, $9::text, $10::jsonb,
              $11::jsonb
         from ${source}
       on conflict (organization_id, email) do update set
         first_name = excluded.first_name,
         last_name = excluded.last_name,
         dob = coalesce(excluded.dob, patients.dob),
         gender = coalesce(excluded.gender, patients.gender),
         phone_number = coalesce(excluded.phone_number, patients.phone_number),
         password_hash = coalesce(patients.password_hash, excluded.password_hash),
         shipping_address = coalesce(excluded.shipping_address, patients.shipping_address),
         language_preferences = coalesce(excluded.language_preferences, patients.language_preferences),
         updated_at = now()
       returning id`;

/** The 11 parameters of patientUpsert. `id` is used when the patient is new. */
export function patientUpsertParams(organizationId: string, id: string, profile: PatientProfile): unknown[] {
  return [
    id,
    organizationId,
    profile.email,
    profile.firstName,
    profile.lastName,
    profile.dob ?? null,
    profile.gender ?? null,
    profile.phoneNumber ?? null,
    profile.passwordHash ?? null,
    profile.shippingAddress ? JSON.stringify(profile.shippingAddress) : null,
    profile.languagePreferences ? JSON.stringify(profile.languagePreferences) : null,
  ];
}

/** Patients of one organization (one per email): every statement adds its condition. */
export class PatientRepository {
  private readonly organizationId: string;

  constructor(
    private readonly db: Queryable,
    tenant: Tenant,
  ) {
    this.organizationId = tenant.organizationId;
  }

  async findByEmail(email: string): Promise<PatientRow | null> {
    const { rows } = await this.db.query<PatientRow>(
      `select id, email, first_name, last_name, to_char(dob, 'YYYY-MM-DD') as dob, gender, phone_number, password_hash,
              shipping_address, language_preferences
         from patients where organization_id = $1 and email = $2`,
      [this.organizationId, email],
    );
    return rows[0] ?? null;
  }

  async updateShippingAddress(patientId: string, address: ShippingAddress): Promise<void> {
    await this.db.query(
      `update patients set shipping_address = $3::jsonb, updated_at = now() where organization_id = $1 and id = $2`,
      [this.organizationId, patientId, JSON.stringify(address)],
    );
  }

  /** When the patient with this email, or else the first with this phone number, was created; null when none. */
  async createdAtOf(
    match: { email: string } | { phoneNumber: string },
  ): Promise<{ id: string; created_at: Date } | null> {
    const byEmail = 'email' in match;
    const { rows } = await this.db.query<{ id: string; created_at: Date }>(
      `select id, created_at from patients where organization_id = $1 and ${byEmail ? 'email' : 'phone_number'} = $2
        order by created_at, id limit 1`,
      [this.organizationId, byEmail ? match.email : match.phoneNumber],
    );
    return rows[0] ?? null;
  }
}
