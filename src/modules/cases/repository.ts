import { randomUUID } from 'node:crypto';
import { prepared, type Queryable } from '../../db/database.ts';
import type { Tenant } from '../../http/gate.ts';
import { isUuid } from '../../uuid.ts';
import { activeKeyCondition } from '../organizations/repository.ts';
import { patientUpsert, patientUpsertParams, type PatientProfile } from '../patients/repository.ts';
import type { IntakePaymentFields } from './intake/payments.ts';
import { enqueueDeliveriesSql } from '../outbound-webhooks/events.ts';
import { CASE_CREATED, CASE_EVENT_COLUMNS, CASE_EVENT_TYPES, caseCreatedState } from './lifecycle/events.ts';

/** The unique index that makes an idempotencyKey usable once per organization. */
export const IDEMPOTENCY_INDEX = 'cases_organization_idempotency_key_unique';

/** Every intake runs it: see insertIntake. */
const INSERT_INTAKE = prepared(
  `with key_check as (
     select ${activeKeyCondition('$30::uuid', '$2::uuid')} as active
   ), current_form as (
     select id, version from forms
      where organization_id = $2::uuid and id = $23::uuid and ($29::integer is null or version = $29::integer)
        and (select active from key_check)
   ), became_phi as (
     -- Questions this intake answers in plaintext that are PHI by now. Only a redefinition of the form sets
     -- phi (and phi never turns back), so they are looked up only when the version moved since the plan's read.
     select q.id::text as id
       from current_form f
       join questions q
         on f.version is distinct from $31::integer
        and q.organization_id = $2::uuid and q.id = any($32::uuid[]) and q.phi
   ), writable_form as (
     select id from current_form where not exists (select 1 from became_phi)
   ), patient as (
     ${patientUpsert('writable_form')}
   ), new_case as (
     insert into cases (id, organization_id, patient_id, status, idempotency_key, payment_amount_cents,
                        payment_description, stripe_setup_id, stripe_payment_id, nmi_payment_token,
                        product_bundle_id, promo_codes, short_id)
     select $12::uuid, $2::uuid, patient.id, $13::text, $14::text, $15::integer, $16::text, $17::text, $18::text,
            $19::text, $20::uuid, $21::jsonb, $33::text
       from patient
     returning id, patient_id
   ), case_event as (
     -- The case's first event, written with it (lifecycle/events.ts: recordCaseEvent for every later change).
     insert into case_events (${CASE_EVENT_COLUMNS})
     select $34::uuid, $2::uuid, new_case.id, null, 'api_key', $35::text, '${CASE_CREATED}', null, $36::jsonb
       from new_case
   ), case_created_webhooks as (
     -- Its webhook, queued with it for the organization's subscribed endpoints (lifecycle/events.ts).
     ${enqueueDeliveriesSql({
       organizationId: '$2::uuid',
       caseId: 'new_case.id',
       event: `'${CASE_EVENT_TYPES[CASE_CREATED]}'`,
       eventId: '$34::uuid',
       subject: `'{}'::jsonb`,
       from: 'new_case',
     })}
   ), form_response as (
     insert into form_responses (id, organization_id, case_id, form_id, patient_id)
     select $22::uuid, $2::uuid, new_case.id, $23::uuid, new_case.patient_id from new_case
     returning id
   ), answer_rows as (
     insert into answers (id, organization_id, form_response_id, question_id, question_type, value,
                          encrypted_value)
     select answer.id, $2::uuid, form_response.id, answer.question_id, answer.question_type,
            answer.value::jsonb, answer.encrypted_value
       from form_response,
            unnest($24::uuid[], $25::uuid[], $26::text[], $27::text[], $28::text[])
              as answer (id, question_id, question_type, value, encrypted_value)
   )
   select (select id from patient) as patient_id, (select active from key_check) as key_active,
          (select array_agg(id) from became_phi) as became_phi,
          -- Read here so that an organization without auto-assignment costs its intakes no statement more.
          exists (select 1 from organization_auto_assignment where organization_id = $2::uuid and enabled)
            as auto_assignment_on`,
);

/** Everything one intake writes about its patient, case and answers: one statement (insertIntake). */
export interface NewIntake {
  /** The id the patient gets when the email is new to the organization. */
  newPatientId: string;
  patient: PatientProfile;
  caseId: string;
  /** Unique in the organization; a collision is a unique violation on SHORT_ID_INDEX (nothing written). */
  shortId: string;
  /** The API key whose request creates the case (its `case.created` event names it). */
  apiKeyId: string;
  status: 'OPEN' | 'ABANDONED';
  idempotencyKey?: string;
  payment: IntakePaymentFields;
  formResponseId: string;
  formId: string;
  /** When set, the intake is written only if the form is still at this version (forms.version). */
  expectedFormVersion?: number;
  /** The form's version as the plan read it (none for a new form): see `becamePhi` of insertIntake. */
  readFormVersion?: number;
  /** When set, the intake is written only if this API key is still active (Scope.keyToCheckInWrite). */
  confirmApiKeyId?: string;
  /** Exactly one of `value` (JSON text) and `encryptedValue` is set. */
  answers: {
    id: string;
    questionId: string;
    questionType: string;
    value: string | null;
    encryptedValue: string | null;
  }[];
}

/** Cases, form responses and answers of one organization: every statement adds its condition. */
export class CaseRepository {
  private readonly organizationId: string;

  constructor(
    private readonly db: Queryable,
    tenant: Tenant,
  ) {
    this.organizationId = tenant.organizationId;
  }

  /** The id of the organization's case named by its id (a UUID) or its short id (any case), or null. */
  async idOf(caseIdOrShortId: string): Promise<string | null> {
    const shortId = caseIdOrShortId.trim().toUpperCase();
    const byId = isUuid(caseIdOrShortId);
    const { rows } = await this.db.query<{ id: string }>(
      `select id from cases where organization_id = $1 and ${byId ? 'id = $2::uuid' : 'short_id = $2'}`,
      [this.organizationId, byId ? shortId.toLowerCase() : shortId],
    );
    return rows[0]?.id ?? null;
  }

  async idempotencyKeyUsed(idempotencyKey: string): Promise<boolean> {
    const { rows } = await this.db.query('select 1 from cases where organization_id = $1 and idempotency_key = $2', [
      this.organizationId,
      idempotencyKey,
    ]);
    return rows.length > 0;
  }

  /**
   * A form response and its answers into an existing case (a follow-up form), and the case's change mark.
   * Runs in the caller's transaction, which holds the case row's lock.
   */
  async insertFormResponse(response: {
    caseId: string;
    patientId: string;
    formResponseId: string;
    formId: string;
    answers: NewIntake['answers'];
  }): Promise<void> {
    const { answers } = response;
    await this.db.query(
      `insert into form_responses (id, organization_id, case_id, form_id, patient_id) values ($1, $2, $3, $4, $5)`,
      [response.formResponseId, this.organizationId, response.caseId, response.formId, response.patientId],
    );
    await this.db.query(
      `insert into answers (id, organization_id, form_response_id, question_id, question_type, value, encrypted_value)
       select answer.id, $1::uuid, $2::uuid, answer.question_id, answer.question_type, answer.value::jsonb,
              answer.encrypted_value
         from unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[])
           as answer (id, question_id, question_type, value, encrypted_value)`,
      [
        this.organizationId,
        response.formResponseId,
        answers.map((answer) => answer.id),
        answers.map((answer) => answer.questionId),
        answers.map((answer) => answer.questionType),
        answers.map((answer) => answer.value),
        answers.map((answer) => answer.encryptedValue),
      ],
    );
    await this.db.query(
      'update cases set updated_at = now(), version = version + 1 where organization_id = $1 and id = $2',
      [this.organizationId, response.caseId],
    );
  }

  /**
   * Upserts the patient and inserts the case, its form response and all its answers in ONE statement:
   * one round trip, and atomic by itself (outside a transaction it is its own). Returns the patient id;
   * `keyRevoked` when `confirmApiKeyId` is no longer active, or null when the form is not at
   * `expectedFormVersion` (either way nothing was written); `becamePhi`, the questions answered in plaintext
   * that are PHI by now (set by a redefinition since the plan read the form), when there are any: nothing
   * was written, and the intake is written again with those answers encrypted. Throws a unique
   * violation on IDEMPOTENCY_INDEX when the key was used (also by a concurrent transaction); the
   * statement then wrote nothing, the patient update included.
   */
  async insertIntake(
    intake: NewIntake,
  ): Promise<{ patientId: string; autoAssignmentOn: boolean } | { keyRevoked: true } | { becamePhi: string[] } | null> {
    const { payment, answers } = intake;
    const plaintextQuestionIds = answers.filter((answer) => answer.value !== null).map((answer) => answer.questionId);
    const { rows } = await this.db.query<{
      patient_id: string | null;
      key_active: boolean;
      became_phi: string[] | null;
      auto_assignment_on: boolean;
    }>(INSERT_INTAKE, [
      ...patientUpsertParams(this.organizationId, intake.newPatientId, intake.patient),
      intake.caseId,
      intake.status,
      intake.idempotencyKey ?? null,
      payment.amountCents ?? null,
      payment.description ?? null,
      payment.stripeSetupId ?? null,
      payment.stripePaymentId ?? null,
      payment.nmiPaymentToken ?? null,
      payment.productBundleId ?? null,
      payment.promoCodes.length > 0 ? JSON.stringify(payment.promoCodes) : null,
      intake.formResponseId,
      intake.formId,
      answers.map((answer) => answer.id),
      answers.map((answer) => answer.questionId),
      answers.map((answer) => answer.questionType),
      answers.map((answer) => answer.value),
      answers.map((answer) => answer.encryptedValue),
      intake.expectedFormVersion ?? null,
      intake.confirmApiKeyId ?? null,
      intake.readFormVersion ?? null,
      plaintextQuestionIds,
      intake.shortId,
      randomUUID(),
      intake.apiKeyId,
      JSON.stringify(caseCreatedState({ status: intake.status, shortId: intake.shortId })),
    ]);
    const row = rows[0]!;
    if (!row.key_active) return { keyRevoked: true };
    if (row.patient_id) return { patientId: row.patient_id, autoAssignmentOn: row.auto_assignment_on };
    return row.became_phi ? { becamePhi: row.became_phi } : null;
  }
}
