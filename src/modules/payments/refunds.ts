import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../../db/database.ts';
import { isUniqueViolation, transactionSurvivingConnectionLoss } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { Tenant } from '../../http/gate.ts';
import { centsToDecimalString } from '../../money.ts';
import { isUuid } from '../../uuid.ts';
import type { CaseEventActor } from '../cases/lifecycle/events.ts';
import type { GatewayDirectory } from './credentials.ts';
import {
  GatewayRequestError,
  GatewayUnavailableError,
  keyStillReplayed,
  type PaymentGateway,
} from './gateways/types.ts';
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
  findable_by_key: boolean;
  created_at: Date;
}

/** A refund with its payment's case, gateway and reference there (the sweep's and the operator's view). */
export interface RefundWithPayment extends RefundRow {
  organization_id: string;
  case_id: string;
  gateway: PaymentGateway['name'];
  payment_reference: string;
}

const refundColumns =
  'id, case_payment_id, amount_cents, status, gateway_reference, failure_message, findable_by_key, created_at';

/** The select of RefundWithPayment; a query adds its where clause. */
const refundWithPayment = `select r.organization_id, p.case_id, p.gateway, p.gateway_reference as payment_reference,
         ${refundColumns.replace(/(\w+)/g, 'r.$1')}
    from case_payment_refunds r
    join case_payments p on p.id = r.case_payment_id`;

/**
 * A pending refund sent before refunds carried their key, once its gateway no longer replays the key: a retry
 * would be a new refund and the sweep cannot find it, so only an operator settles it.
 */
const keyOutlived = (refund: RefundRow, gateway: string) =>
  !refund.findable_by_key && !keyStillReplayed(gateway, refund.created_at);

const OPERATOR: CaseEventActor = { kind: 'operator', id: null };

const cannot = (reason: string) => new ApiError(409, `Payment cannot be refunded: ${reason}`);
const inProgress = () => new ApiError(409, 'A refund with this idempotencyKey is being processed; retry shortly');
const outlivedKey = () =>
  new ApiError(
    409,
    'This refund was first sent more than a day ago and its outcome is unknown. Stripe no longer replays its ' +
      'idempotencyKey, so it is not sent again: it stays pending until an operator settles it',
  );

/**
 * POST /api/v1/cases/:caseId/payments/:paymentId/refund. A refund is recorded first (`pending`, with the amount
 * it takes out of what is left to refund, so two refunds at once never refund more than was collected), then
 * the gateway is called with a key derived from that record, then its answer is recorded with the payment's new
 * amount refunded and the case event, in one transaction. No transaction is open during the gateway call.
 *
 * A retry of a pending refund resumes it with the same key, and claims the record (`claimed_until`) for as long
 * as its calls may still reach the gateway, so that it never runs beside the payment sweep's look-up of the same
 * refund. Stripe replays the key; NMI has none, so an NMI attempt claims the record from its first call, and the
 * resumed attempt asks NMI's Query API for the refund before sending it again.
 */
export class RefundService {
  /** How long an attempt holds its refund, by gateway: its calls with their retries, with room to spare. */
  private readonly claimMs: Record<'nmi' | 'stripe', number>;

  constructor(
    private readonly db: Database,
    private readonly gateways: GatewayDirectory,
    options: { nmiTimeoutMs: number; stripeTimeoutMs: number; stripeMaxNetworkRetries: number },
  ) {
    this.claimMs = {
      nmi: 2 * options.nmiTimeoutMs + 15_000, // a look-up and the refund
      stripe: (options.stripeMaxNetworkRetries + 1) * options.stripeTimeoutMs + 15_000,
    };
  }

  private claimMsOf(gateway: PaymentGateway['name']): number {
    return gateway === 'nmi' ? this.claimMs.nmi : this.claimMs.stripe;
  }

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
      // A refund not marked with its key (sent before refunds were) is found only by Stripe's replay of the key.
      if (keyOutlived(earlier, gateway.name)) throw outlivedKey();
      if (!(await this.claim(tenant, earlier.id, this.claimMsOf(gateway.name)))) throw inProgress();
      refund = earlier;
    } else {
      refund = await this.reserve(tenant, payment, input, gateway);
    }

    let answer;
    try {
      answer = await gateway.refund({
        idempotencyKey: refundKey(refund.id),
        reference: payment.gateway_reference,
        amountCents: refund.amount_cents,
        resume: earlier !== null,
        findable: refund.findable_by_key,
      });
    } catch (error) {
      if (error instanceof GatewayRequestError) {
        await recordRefundFailed(this.db, tenant, refund.id, error.message.slice(0, 500));
        throw cannot(error.message);
      }
      // Unknown outcome: the record stays pending and holds its amount; a retry with the idempotencyKey resumes
      // it, at once unless the call may still reach the gateway.
      if (error instanceof GatewayUnavailableError) {
        if (!callsOutliveAttempts(gateway)) await this.release(tenant, refund.id);
        throw new ApiError(503, 'The payment provider is unavailable; please retry');
      }
      throw error;
    }
    if (answer.status === 'failed') {
      await recordRefundFailed(this.db, tenant, refund.id, 'refused');
      throw cannot('the payment provider refused it');
    }
    return recordRefundSucceeded(this.db, tenant, payment, refund, answer.id || null, actor);
  }

  /**
   * The payment sweep's part (docs/operations.md#the-payment-sweep): refunds left pending this long, by a request
   * that died or was never retried, whose claim has lapsed, and which their gateway can find by key.
   */
  async listAbandoned(olderThanMinutes: number): Promise<RefundWithPayment[]> {
    const { rows } = await this.db.query<RefundWithPayment>(
      `${refundWithPayment}
        where r.status = 'pending' and r.findable_by_key
          and r.created_at < now() - make_interval(mins => $1::int)
          and (r.claimed_until is null or r.claimed_until < now())
        order by r.created_at limit 500`,
      [olderThanMinutes],
    );
    return rows;
  }

  /**
   * Asks the gateway for an abandoned refund by its key (NMI's Query API, Stripe's refunds of the payment),
   * claimed first as a retry claims it. The refund the gateway made is recorded; one it never made, or refused, is
   * recorded failed, which gives its amount back to what is left to refund. The sweep never sends a refund. A
   * look-up that fails throws, and the refund waits for the next pass.
   */
  async settleAbandoned(refund: RefundWithPayment): Promise<'settled' | 'failed' | 'unknown'> {
    const tenant = Tenant.forOperator(refund.organization_id, 'a pending refund names its organization');
    const gateway = (await this.gateways.forOrganization(refund.organization_id)).byName[refund.gateway];
    if (!gateway?.findRefund || !(await this.claim(tenant, refund.id, this.claimMsOf(gateway.name)))) return 'unknown';
    const found = await gateway.findRefund({
      reference: refund.payment_reference,
      idempotencyKey: refundKey(refund.id),
    });
    if (found && found.status !== 'failed') {
      const payment = { id: refund.case_payment_id, case_id: refund.case_id };
      await recordRefundSucceeded(this.db, tenant, payment, refund, found.id, { kind: 'system', id: null });
      return 'settled';
    }
    const reason = found
      ? `The refund failed at ${gatewayTitle[gateway.name]}`
      : `The refund was never made: ${gatewayTitle[gateway.name]} has no refund for it`;
    await recordRefundFailed(this.db, tenant, refund.id, reason);
    return 'failed';
  }

  /**
   * Pending refunds that neither a retry nor the sweep settles (unmarked, and older than their gateway replays their
   * key): what `payments settle-refund` settles, the oldest 500.
   */
  async leftToOperator(): Promise<RefundWithPayment[]> {
    const { rows } = await this.db.query<RefundWithPayment>(
      `${refundWithPayment}
        where r.status = 'pending' and not r.findable_by_key
        order by r.created_at limit 500`,
    );
    return rows.filter((row) => keyOutlived(row, row.gateway));
  }

  /**
   * `care360 payments settle-refund`: an operator records the outcome of a pending refund that nothing else can
   * settle (a Stripe refund sent before refunds carried their key, once Stripe no longer replays it), as read in
   * the gateway's dashboard. Made: recorded as a refund the gateway made, with its case event. Never made: recorded
   * failed, which gives its amount back to what is left to refund. Claimed first, as a retry claims it, so it never
   * runs beside an attempt or the sweep; nothing is sent to the gateway.
   */
  async settleByOperator(
    tenant: Tenant,
    refundId: string,
    outcome: { made: true; gatewayReference: string } | { made: false },
  ): Promise<RefundWithPayment> {
    const refund = await this.operatorView(tenant, refundId);
    if (!refund) throw new ApiError(404, 'Refund not found');
    if (refund.status !== 'pending') throw new ApiError(409, `The refund is already ${refund.status}: nothing changed`);
    const { gateway } = refund;
    if (!(await this.claim(tenant, refund.id, this.claimMsOf(gateway)))) {
      throw new ApiError(409, 'An attempt to send this refund may still be at work; run the command again later');
    }
    if (outcome.made) {
      const payment = { id: refund.case_payment_id, case_id: refund.case_id };
      await recordRefundSucceeded(this.db, tenant, payment, refund, outcome.gatewayReference, OPERATOR);
    } else {
      const reason = `The refund was never made: an operator found no refund for it at ${gatewayTitle[gateway]}`;
      await recordRefundFailed(this.db, tenant, refund.id, reason);
    }
    return (await this.operatorView(tenant, refundId))!;
  }

  private async operatorView(tenant: Tenant, refundId: string): Promise<RefundWithPayment | null> {
    if (!isUuid(refundId)) return null;
    const { rows } = await this.db.query<RefundWithPayment>(
      `${refundWithPayment} where r.organization_id = $1 and r.id = $2`,
      [tenant.organizationId, refundId],
    );
    return rows[0] ?? null;
  }

  /** Claims a pending refund for one attempt; false while an earlier attempt may still reach its gateway. */
  private async claim(tenant: Tenant, refundId: string, claimMs: number): Promise<boolean> {
    const { rows } = await this.db.query(
      `update case_payment_refunds set claimed_until = now() + make_interval(secs => $3::float8 / 1000)
        where organization_id = $1 and id = $2 and status = 'pending'
          and (claimed_until is null or claimed_until < now())
        returning id`,
      [tenant.organizationId, refundId, claimMs],
    );
    return rows.length > 0;
  }

  private async release(tenant: Tenant, refundId: string): Promise<void> {
    await this.db.query(
      `update case_payment_refunds set claimed_until = null where organization_id = $1 and id = $2 and status = 'pending'`,
      [tenant.organizationId, refundId],
    );
  }

  /** The pending refund record, its amount checked against what is left, with the payment locked meanwhile. */
  private async reserve(
    tenant: Tenant,
    payment: CasePaymentRow,
    input: { amountCents: number | undefined; idempotencyKey: string | null },
    gateway: PaymentGateway,
  ): Promise<RefundRow> {
    const claimMs = callsOutliveAttempts(gateway) ? this.claimMsOf(gateway.name) : null;
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
             idempotency_key, claimed_until, findable_by_key)
           values ($1, $2, $3, $4, 'pending', 'api', $5, now() + make_interval(secs => $6::float8 / 1000), $7)
           returning ${refundColumns}`,
          [id, tenant.organizationId, payment.id, amount, input.idempotencyKey, claimMs, Boolean(gateway.findRefund)],
        );
        return inserted.rows[0]!;
      });
    } catch (error) {
      // A twin request with the same idempotencyKey recorded it first: answer as its retry would.
      if (isUniqueViolation(error, 'case_payment_refunds_idempotency_idx')) {
        throw inProgress();
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
 * Whether a refund call may still reach the gateway after its attempt gave up: NMI has no idempotency key, so such
 * a call must not meet a second one, and its attempt holds the refund from the first call until the claim lapses.
 * Stripe answers a key again instead.
 */
const callsOutliveAttempts = (gateway: PaymentGateway) => gateway.name === 'nmi';

const gatewayTitle: Record<PaymentGateway['name'], string> = {
  stripe: 'Stripe',
  nmi: 'NMI',
  simulated: 'the simulated gateway',
};

const refundKey = (refundId: string) => gatewayKey('case-payment-refund', refundId, 'refund');

/** Records a refund the gateway did not make, which gives its amount back to what is left to refund. */
async function recordRefundFailed(db: Database, tenant: Tenant, refundId: string, reason: string): Promise<void> {
  await db.query(
    `update case_payment_refunds set status = 'failed', failure_message = $3, claimed_until = null, updated_at = now()
      where organization_id = $1 and id = $2 and status = 'pending'`,
    [tenant.organizationId, refundId, reason],
  );
}

/**
 * Records a refund the gateway made, with its effect on the payment and its case event. The record follows the
 * gateway even through a lost connection, since nothing else would learn of an NMI refund that was made. Settling
 * only a pending record keeps it once.
 */
async function recordRefundSucceeded(
  db: Database,
  tenant: Tenant,
  payment: Pick<CasePaymentRow, 'id' | 'case_id'>,
  refund: RefundRow,
  gatewayReference: string | null,
  actor: CaseEventActor,
): Promise<CasePaymentRow> {
  return transactionSurvivingConnectionLoss(db, async (tx) => {
    const settled = await tx.query<{ id: string }>(
      `update case_payment_refunds set status = 'succeeded', gateway_reference = $3, claimed_until = null,
         updated_at = now()
       where organization_id = $1 and id = $2 and status = 'pending' returning id`,
      [tenant.organizationId, refund.id, gatewayReference],
    );
    if (settled.rows.length === 0)
      return (await new PaymentRepository(tx, tenant).findPayment(payment.case_id, payment.id))!;
    return applyRefund(tx, tenant, payment, refund.amount_cents, actor);
  });
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
