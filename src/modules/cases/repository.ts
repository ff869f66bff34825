import type { Queryable } from '../../db/database.ts';
import type { IntakePaymentFields } from './intake-payments.ts';

/** The unique index that makes an idempotencyKey usable once per organization. */
export const IDEMPOTENCY_INDEX = 'cases_organization_idempotency_key_unique';

export interface NewCase {
  id: string;
  patientId: string;
  status: 'OPEN' | 'ABANDONED';
  idempotencyKey?: string;
  payment: IntakePaymentFields;
}

/** Cases, form responses and answers; every statement is scoped by organization. */
export class CaseRepository {
  constructor(private readonly db: Queryable) {}

  async idempotencyKeyUsed(organizationId: string, idempotencyKey: string): Promise<boolean> {
    const { rows } = await this.db.query('select 1 from cases where organization_id = $1 and idempotency_key = $2', [
      organizationId,
      idempotencyKey,
    ]);
    return rows.length > 0;
  }

  /** Throws a unique violation on IDEMPOTENCY_INDEX when the key was used (also by a concurrent transaction). */
  async insertCase(organizationId: string, newCase: NewCase): Promise<void> {
    const { payment } = newCase;
    await this.db.query(
      `insert into cases (id, organization_id, patient_id, status, idempotency_key, payment_amount_cents,
                          payment_description, stripe_setup_id, stripe_payment_id, nmi_payment_token,
                          product_bundle_id, promo_codes)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)`,
      [
        newCase.id,
        organizationId,
        newCase.patientId,
        newCase.status,
        newCase.idempotencyKey ?? null,
        payment.amountCents ?? null,
        payment.description ?? null,
        payment.stripeSetupId ?? null,
        payment.stripePaymentId ?? null,
        payment.nmiPaymentToken ?? null,
        payment.productBundleId ?? null,
        payment.promoCodes.length > 0 ? JSON.stringify(payment.promoCodes) : null,
      ],
    );
  }

  async insertFormResponse(
    organizationId: string,
    formResponse: { id: string; caseId: string; formId: string; patientId: string },
  ): Promise<void> {
    await this.db.query(
      'insert into form_responses (id, organization_id, case_id, form_id, patient_id) values ($1, $2, $3, $4, $5)',
      [formResponse.id, organizationId, formResponse.caseId, formResponse.formId, formResponse.patientId],
    );
  }

  /** Exactly one of `value` (JSON text) and `encryptedValue` is set. */
  /** All answers of one form response in one statement (one round trip, whatever the number of questions). */
  async insertAnswers(
    organizationId: string,
    formResponseId: string,
    answers: {
      id: string;
      questionId: string;
      questionType: string;
      value: string | null;
      encryptedValue: string | null;
    }[],
  ): Promise<void> {
    if (answers.length === 0) return;
    await this.db.query(
      `insert into answers (id, organization_id, form_response_id, question_id, question_type, value, encrypted_value)
       select answer.id, $1, $2, answer.question_id, answer.question_type, answer.value::jsonb, answer.encrypted_value
         from unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[])
           as answer (id, question_id, question_type, value, encrypted_value)`,
      [
        organizationId,
        formResponseId,
        answers.map((answer) => answer.id),
        answers.map((answer) => answer.questionId),
        answers.map((answer) => answer.questionType),
        answers.map((answer) => answer.value),
        answers.map((answer) => answer.encryptedValue),
      ],
    );
  }
}
