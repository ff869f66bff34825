import { randomUUID } from 'node:crypto';
import type { Database } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import { unstorableText } from '../../db/text.ts';
import { ApiError, IdempotencyConflictError } from '../../http/api-error.ts';
import type { Tenant } from '../../http/gate.ts';
import { isUuid } from '../../uuid.ts';
import { recordCaseEvent, type CaseEventActor } from '../cases/lifecycle/events.ts';
import { CASE_PAYMENT_IDEMPOTENCY_INDEX, PAYMENT_STATUSES, PaymentRepository, type PaymentStatus } from './repository.ts';
import { fingerprintOf } from './service.ts';
import { parseDollars } from './validation.ts';

/** The body of POST /api/v1/customer-payment-confirmation, checked. */
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

const bad = (message: string) => new ApiError(400, message);

/** Statuses whose money was collected (elsewhere): the record counts it as captured. */
const COLLECTED: readonly PaymentStatus[] = ['PAID', 'IN_DISPUTE', 'LOST_DISPUTE', 'REFUND'];

/** `YYYY-MM-DD` naming a real calendar day. */
function parseDay(value: unknown, field: string): string {
  if (value === undefined || value === null || value === '') throw bad(`${field} is required`);
  const day = typeof value === 'string' ? value.trim() : '';
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  const date = match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]))) : null;
  if (!match || !date || date.toISOString().slice(0, 10) !== day || Number(match[1]) < 1900) {
    throw bad(`${field} must be a date in the format YYYY-MM-DD`);
  }
  return day;
}

function optionalText(value: unknown, field: string, max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw bad(`${field} must be a string`);
  if (value.length > max) throw bad(`${field} must be at most ${max} characters`);
  const problem = unstorableText(value);
  if (problem) throw bad(`${field} ${problem[0]!.toLowerCase()}${problem.slice(1)}`);
  return value.trim() === '' ? null : value;
}

/** Checks the body with the messages docs/api/payments.md lists; nothing is read or written before it passes. */
export function parseConfirmationBody(body: unknown): PaymentConfirmation {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw bad('Request body must be a JSON object');
  }
  const input = body as Record<string, unknown>;
  if (input.caseId === undefined || input.caseId === null || input.caseId === '') throw bad('caseId is required');
  if (!isUuid(input.caseId)) throw bad('Case ID must be a valid UUID');
  if (input.amount === undefined || input.amount === null) throw bad('amount is required');
  const amountCents = parseDollars(input.amount);
  if (input.status === undefined || input.status === null || input.status === '') throw bad('status is required');
  const status = typeof input.status === 'string' ? input.status.trim().toUpperCase() : '';
  if (!PAYMENT_STATUSES.includes(status as PaymentStatus)) {
    throw bad(`Status must be one of ${PAYMENT_STATUSES.join(', ')}`);
  }
  const paymentDate = parseDay(input.paymentDate, 'paymentDate');
  const validUntil = parseDay(input.validUntil, 'validUntil');
  if (validUntil < paymentDate) throw bad('validUntil must not be before paymentDate');
  const description = optionalText(input.description, 'description', 1000);
  const decisionId = optionalText(input.decisionId, 'decisionId', 255);
  // Accepted as the published body has them, and checked, but not kept: the case names its patient already.
  optionalText(input.email, 'email', 320);
  optionalText(input.phoneNumber, 'phoneNumber', 50);
  const { idempotencyKey } = input;
  if (
    idempotencyKey !== undefined &&
    idempotencyKey !== null &&
    (typeof idempotencyKey !== 'string' || idempotencyKey.trim() === '' || idempotencyKey.length > 255)
  ) {
    throw bad('Idempotency key must be a non-empty string of at most 255 characters');
  }
  if (typeof idempotencyKey === 'string') optionalText(idempotencyKey, 'idempotencyKey', 255);
  return {
    caseId: (input.caseId as string).toLowerCase(),
    amountCents,
    description,
    status: status as PaymentStatus,
    paymentDate,
    validUntil,
    decisionId,
    idempotencyKey: typeof idempotencyKey === 'string' ? idempotencyKey : null,
  };
}

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
