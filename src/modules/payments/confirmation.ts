import { randomUUID } from 'node:crypto';
import type { Database } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import { ApiError, IdempotencyConflictError } from '../../http/api-error.ts';
import type { Tenant } from '../../http/gate.ts';
import { recordCaseEvent, type CaseEventActor } from '../cases/lifecycle/events.ts';
import { CASE_PAYMENT_IDEMPOTENCY_INDEX, PaymentRepository, type PaymentStatus } from './repository.ts';
import { fingerprintOf } from './service.ts';

/** The body of POST /api/v1/customer-payment-confirmation, checked (body-schemas.ts). */
export interface PaymentConfirmation {
  caseId: string;
  amountCents: number;
  description: string | null;
  status: PaymentStatus;
  paymentDate: string;
  validUntil: string;
  decisionId: string | null;
  idempotencyKey: string | null;
}

/** Statuses whose money was collected (elsewhere): the record counts it as captured. */
const COLLECTED: readonly PaymentStatus[] = ['PAID', 'IN_DISPUTE', 'LOST_DISPUTE', 'REFUND'];

/**
 * POST /api/v1/customer-payment-confirmation: a payment taken outside this server, recorded on the key's
 * organization's case with its case event (PAYMENT_COMPLETED when PAID, PAYMENT_ADDED otherwise) in one
 * transaction. No gateway is called. The idempotencyKey shares the organization's namespace with case payments:
 * the same key with the same request answers as the first did, with another request the documented 409.
 */
export class PaymentConfirmationService {
  constructor(private readonly db: Database) {}

  /** The payment's id; `created` false when an earlier identical request recorded it. */
  async confirm(
    tenant: Tenant,
    input: PaymentConfirmation,
    actor: CaseEventActor,
  ): Promise<{ paymentId: string; created: boolean }> {
    const fingerprint = fingerprintOf({ kind: 'confirmation', ...input });
    const repository = new PaymentRepository(this.db, tenant);
    if (input.idempotencyKey) {
      const earlier = await this.earlier(repository, input.idempotencyKey, fingerprint);
      if (earlier) return { paymentId: earlier, created: false };
    }
    if (!(await repository.findCase(input.caseId))) throw new ApiError(404, 'Case not found');
    try {
      const paymentId = await this.db.transaction(async (tx) => {
        const payments = new PaymentRepository(tx, tenant);
        const id = randomUUID();
        const collected = COLLECTED.includes(input.status) ? input.amountCents : 0;
        await payments.insertPayment({
          id,
          caseId: input.caseId,
          productId: null,
          productBundleId: null,
          description: input.description,
          amountCents: input.amountCents,
          originalAmountCents: null,
          discountCents: 0,
          promoCodeId: null,
          status: input.status,
          source: 'confirmation',
          gateway: null,
          gatewayReference: null,
          holdStatus: 'NONE',
          amountCapturedCents: collected,
          captureBefore: null,
          capturedAt: null,
          failureMessage: null,
          idempotencyKey: input.idempotencyKey,
          requestFingerprint: fingerprint,
        });
        await tx.query(
          `update case_payments set payment_date = $3::date, valid_until = $4::date, decision_id = $5,
             amount_refunded_cents = $6
            where organization_id = $1 and id = $2`,
          [
            tenant.organizationId,
            id,
            input.paymentDate,
            input.validUntil,
            input.decisionId,
            input.status === 'REFUND' ? input.amountCents : 0,
          ],
        );
        const state = { paymentId: id, status: input.status, amountCents: input.amountCents, source: 'confirmation' };
        await recordCaseEvent(tx, {
          organizationId: tenant.organizationId,
          caseId: input.caseId,
          actor,
          type: input.status === 'PAID' ? 'case.payment_completed' : 'case.payment_added',
          before: null,
          after: state,
          subject: { paymentId: id },
        });
        return id;
      });
      return { paymentId, created: true };
    } catch (error) {
      // A twin request with the same key recorded it first: answer as a retry of that one would.
      if (input.idempotencyKey && isUniqueViolation(error, CASE_PAYMENT_IDEMPOTENCY_INDEX)) {
        const earlier = await this.earlier(repository, input.idempotencyKey, fingerprint);
        if (earlier) return { paymentId: earlier, created: false };
        throw new IdempotencyConflictError();
      }
      throw error;
    }
  }

  /** The payment an identical earlier request recorded with this key; throws the 409 when the key is taken otherwise. */
  private async earlier(repository: PaymentRepository, key: string, fingerprint: string): Promise<string | null> {
    const existing = await repository.findPaymentByIdempotencyKey(key);
    if (!existing) return null;
    if (existing.request_fingerprint !== fingerprint) throw new IdempotencyConflictError();
    return existing.id;
  }
}
