import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../../db/database.ts';
import { isUniqueViolation, transactionSurvivingConnectionLoss } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import type { Tenant } from '../../http/gate.ts';
import { centsToDecimalString } from '../../money.ts';
import type { CaseEventActor } from '../cases/lifecycle/events.ts';
import type { GatewayDirectory } from './credentials.ts';
import { GatewayRequestError, GatewayUnavailableError, type PaymentGateway } from './gateways/types.ts';
import { changePayment } from './payment-events.ts';
import { PaymentRepository, type CasePaymentRow } from './repository.ts';
import { gatewayKey } from './service.ts';

interface RefundRow {
  id: string;
  case_payment_id: string;
  amount_cents: number;
  status: 'pending' | 'succeeded' | 'failed';
  gateway_reference: string | null;
  failure_message: string | null;
}

const refundColumns = 'id, case_payment_id, amount_cents, status, gateway_reference, failure_message';

const cannot = (reason: string) => new ApiError(409, `Payment cannot be refunded: ${reason}`);

/**
 * POST /api/v1/cases/:caseId/payments/:paymentId/refund. A refund is recorded first (`pending`, with the amount
 * it takes out of what is left to refund, so two refunds at once never refund more than was collected), then
 * the gateway is called with a key derived from that record, then its answer is recorded with the payment's new
 * amount refunded and the case event, in one transaction. No transaction is open during the gateway call.
 */
export class RefundService {
  constructor(
    private readonly db: Database,
    private readonly gateways: GatewayDirectory,
  ) {}

  async refund(
    tenant: Tenant,
    caseId: string,
    paymentId: string,
    input: { amountCents: number | undefined; idempotencyKey: string | null },
    actor: CaseEventActor,
  ): Promise<CasePaymentRow> {
    const repository = new PaymentRepository(this.db, tenant);
    if (!(await repository.findCase(caseId))) throw new ApiError(404, 'Case not found');
    const payment = await repository.findPayment(caseId, paymentId);
    if (!payment) throw new ApiError(404, 'Payment not found');
    if (!payment.gateway || !payment.gateway_reference) throw cannot('it was not taken through a payment gateway');
    const gateway = (await this.gateways.forOrganization(tenant.organizationId)).byName[
      payment.gateway as PaymentGateway['name']
    ];
    if (!gateway) {
      throw new ApiError(
        503,
        `The ${payment.gateway} gateway that holds this payment is not configured on this server`,
      );
    }

    const earlier = input.idempotencyKey ? await this.byKey(tenant, paymentId, input.idempotencyKey) : null;
    let refund: RefundRow;
    if (earlier) {
      if (input.amountCents !== undefined && earlier.amount_cents !== input.amountCents) {
        throw new ApiError(409, 'This idempotencyKey was used for a refund of another amount');
      }
      if (earlier.status === 'succeeded') return (await repository.findPayment(caseId, paymentId))!;
      if (earlier.status === 'failed') throw cannot(earlier.failure_message ?? 'the payment provider refused it');
      // NMI has no idempotency key: a refund whose answer was lost may have been made; it is never sent again.
      if (gateway.name === 'nmi') {
        throw cannot('an earlier attempt may have reached NMI; check the transaction in NMI before refunding again');
      }
      refund = earlier;
    } else {
      refund = await this.reserve(tenant, payment, input);
    }

    let answer;
    try {
      answer = await gateway.refund({
        idempotencyKey: gatewayKey('case-payment-refund', refund.id, 'refund'),
        reference: payment.gateway_reference,
        amountCents: refund.amount_cents,
      });
    } catch (error) {
      if (error instanceof GatewayRequestError) {
        await this.db.query(
          `update case_payment_refunds set status = 'failed', failure_message = $3, updated_at = now()
            where organization_id = $1 and id = $2 and status = 'pending'`,
          [tenant.organizationId, refund.id, error.message.slice(0, 500)],
        );
        throw cannot(error.message);
      }
      // Unknown outcome: the record stays pending and holds its amount; a retry with the idempotencyKey resumes it.
      if (error instanceof GatewayUnavailableError) {
        throw new ApiError(503, 'The payment provider is unavailable; please retry');
      }
      throw error;
    }
    if (answer.status === 'failed') {
      await this.db.query(
        `update case_payment_refunds set status = 'failed', failure_message = 'refused', updated_at = now()
          where organization_id = $1 and id = $2 and status = 'pending'`,
        [tenant.organizationId, refund.id],
      );
      throw cannot('the payment provider refused it');
    }
    // The gateway has refunded: the record follows it even through a lost connection, since a retry of the request
    // cannot tell an NMI refund that was made from one that was not. Settling only a pending record keeps it once.
    return transactionSurvivingConnectionLoss(this.db, async (tx) => {
      const settled = await tx.query<{ id: string }>(
        `update case_payment_refunds set status = 'succeeded', gateway_reference = $3, updated_at = now()
          where organization_id = $1 and id = $2 and status = 'pending' returning id`,
        [tenant.organizationId, refund.id, answer.id || null],
      );
      if (settled.rows.length === 0) return (await new PaymentRepository(tx, tenant).findPayment(caseId, paymentId))!;
      return applyRefund(tx, tenant, payment, refund.amount_cents, actor);
    });
  }

  /** The pending refund record, its amount checked against what is left, with the payment locked meanwhile. */
  private async reserve(
    tenant: Tenant,
    payment: CasePaymentRow,
    input: { amountCents: number | undefined; idempotencyKey: string | null },
  ): Promise<RefundRow> {
    try {
      return await this.db.transaction(async (tx) => {
        // Locked first, and read in a statement of its own: a statement that waited for the lock would still see
        // the refunds as they were when it began (PostgreSQL, read committed).
        await tx.query('select id from case_payments where organization_id = $1 and id = $2 for update', [
          tenant.organizationId,
          payment.id,
        ]);
        const { rows } = await tx.query<{ status: string; collected: number; refunded: number; pending: number }>(
          `select p.status, p.amount_captured_cents as collected, p.amount_refunded_cents as refunded,
                  coalesce((select sum(r.amount_cents) from case_payment_refunds r
                             where r.case_payment_id = p.id and r.status = 'pending'), 0)::int as pending
             from case_payments p where p.organization_id = $1 and p.id = $2`,
          [tenant.organizationId, payment.id],
        );
        const row = rows[0]!;
        if (row.status !== 'PAID' && row.status !== 'REFUND') {
          throw cannot(`its status is ${row.status}`);
        }
        const left = row.collected - row.refunded - row.pending;
        if (left <= 0)
          throw cannot(row.pending > 0 ? 'a refund of what is left is in progress' : 'nothing is left to refund');
        const amount = input.amountCents ?? left;
        if (amount > left) {
          throw new ApiError(400, `Amount must not exceed the refundable amount (${centsToDecimalString(left)})`);
        }
        const id = randomUUID();
        const inserted = await tx.query<RefundRow>(
          `insert into case_payment_refunds (id, organization_id, case_payment_id, amount_cents, status, source,
             idempotency_key)
           values ($1, $2, $3, $4, 'pending', 'api', $5) returning ${refundColumns}`,
          [id, tenant.organizationId, payment.id, amount, input.idempotencyKey],
        );
        return inserted.rows[0]!;
      });
    } catch (error) {
      // A twin request with the same idempotencyKey recorded it first: answer as its retry would.
      if (isUniqueViolation(error, 'case_payment_refunds_idempotency_idx')) {
        throw new ApiError(409, 'A refund with this idempotencyKey is in progress; retry shortly');
      }
      throw error;
    }
  }

  private async byKey(tenant: Tenant, paymentId: string, idempotencyKey: string): Promise<RefundRow | null> {
    const { rows } = await this.db.query<RefundRow>(
      `select ${refundColumns} from case_payment_refunds
        where organization_id = $1 and case_payment_id = $2 and idempotency_key = $3`,
      [tenant.organizationId, paymentId, idempotencyKey],
    );
    return rows[0] ?? null;
  }
}

/**
 * A succeeded refund's effect on its payment, with its case event, inside the caller's transaction: every refund is
 * one event, a second partial refund of a payment already REFUND too.
 */
export async function applyRefund(
  tx: Queryable,
  tenant: Tenant,
  payment: Pick<CasePaymentRow, 'id' | 'case_id'>,
  amountCents: number,
  actor: CaseEventActor,
): Promise<CasePaymentRow> {
  const changed = await changePayment(tx, tenant, {
    payment,
    changes: (before) => ({ status: 'REFUND', amount_refunded_cents: before.amount_refunded_cents + amountCents }),
    actor,
    detail: { refundedCents: amountCents },
    eventOf: () => 'case.payment_refunded',
  });
  return changed!.after;
}
