import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { hasOwnStripeAccount, type GatewayDirectory } from '../payments/credentials.ts';
import { WebhookSignatureError, type GatewayWebhookEvent } from '../payments/gateways/types.ts';
import { changePayment } from '../payments/payment-events.ts';
import { applyRefund } from '../payments/refunds.ts';
import {
  PaymentRepository,
  PaymentsAcrossOrganizations,
  type CasePaymentRow,
  type PaymentChanges,
  type PaymentStatus,
} from '../payments/repository.ts';
import { Tenant } from '../../http/gate.ts';
import { isUuid } from '../../uuid.ts';

export type WebhookOutcome = 'applied' | 'unchanged' | 'ignored' | 'duplicate';

/** From which statuses an event may move a payment: late or repeated events never move it backwards. */
const ALLOWED_FROM: Record<PaymentStatus, PaymentStatus[]> = {
  PAID: ['UNPAID', 'ERROR', 'IN_DISPUTE'],
  CANCELED: ['UNPAID', 'ERROR'],
  ERROR: ['UNPAID'],
  REFUND: ['PAID', 'IN_DISPUTE', 'REFUND'],
  IN_DISPUTE: ['PAID', 'REFUND'],
  LOST_DISPUTE: ['IN_DISPUTE', 'PAID', 'REFUND'],
  UNPAID: [],
};

/**
 * POST /webhooks/stripe: verifies the signature on the raw body, deduplicates by event id, and applies
 * what the event means to the payment or SetupIntent it names, in one transaction (no gateway call).
 * Events about objects we did not create are acknowledged and ignored.
 */
export class StripeWebhookService {
  constructor(
    private readonly db: Database,
    private readonly gateways: GatewayDirectory,
  ) {}

  /**
   * An event of the server's Stripe account (`organizationId` absent: POST /webhooks/stripe), or of an
   * organization's own (POST /webhooks/stripe/:organizationId, verified with that organization's webhook
   * secret). Each account's events apply only to the objects of the organizations it serves.
   */
  async handle(rawBody: Buffer, signature: string | undefined, organizationId?: string): Promise<WebhookOutcome> {
    let stripe = this.gateways.server.byName.stripe;
    if (organizationId) {
      const own = await this.gateways.resolve(organizationId);
      if (!own.ownStripe) {
        throw new ApiError(
          400,
          'This organization has no Stripe account of its own: its events arrive at /webhooks/stripe',
        );
      }
      stripe = own.gateways.byName.stripe;
    }
    if (!stripe) throw new ApiError(400, 'Stripe webhooks are not configured on this server');
    const served = async (tx: Queryable, owner: string) =>
      organizationId ? owner === organizationId : !(await hasOwnStripeAccount(tx, owner));
    let event: GatewayWebhookEvent;
    try {
      event = stripe.parseWebhook(rawBody, signature);
    } catch (error) {
      if (error instanceof WebhookSignatureError) throw new ApiError(400, error.message);
      throw error;
    }
    return this.db.transaction(async (tx) => {
      const repository = new PaymentsAcrossOrganizations(tx);
      const fresh = await repository.recordWebhookEvent({
        id: event.id,
        type: event.type,
        casePaymentId: null,
        outcome: 'received',
      });
      if (!fresh) return 'duplicate';
      const outcome = await this.apply(tx, repository, event, served);
      await repository.recordWebhookOutcome(event.id, outcome.outcome, outcome.paymentId);
      return outcome.outcome;
    });
  }

  private async apply(
    tx: Queryable,
    repository: PaymentsAcrossOrganizations,
    event: GatewayWebhookEvent,
    served: (tx: Queryable, organizationId: string) => Promise<boolean>,
  ): Promise<{ outcome: WebhookOutcome; paymentId: string | null }> {
    const update = event.update;
    if (!update) return { outcome: 'ignored', paymentId: null };

    if (update.kind === 'setup') {
      if (!event.setupIntentId) return { outcome: 'ignored', paymentId: null };
      const intent = await repository.findIntentAnyOrganization('stripe', event.setupIntentId);
      if (!intent || !(await served(tx, intent.organization_id))) return { outcome: 'ignored', paymentId: null };
      await organizationOf(tx, intent).recordIntentResult(intent.id, {
        gatewayIntentId: event.setupIntentId,
        status: update.status,
        customerId: update.customerId,
        paymentMethodId: update.paymentMethodId,
      });
      return { outcome: 'applied', paymentId: null };
    }

    if (!event.paymentIntentId) return { outcome: 'ignored', paymentId: null };
    const metadataId = event.metadata.care360_case_payment_id;
    const payment = await repository.findPaymentForGateway(
      'stripe',
      event.paymentIntentId,
      isUuid(metadataId) ? metadataId : null,
    );
    if (payment && !(await served(tx, payment.organization_id))) return { outcome: 'ignored', paymentId: null };
    if (!payment) {
      // A PaymentIntent from /payments/intent not (yet) attached to a case: keep its status for the intake check.
      const intent = await repository.findIntentAnyOrganization('stripe', event.paymentIntentId);
      if (!intent || !(await served(tx, intent.organization_id))) return { outcome: 'ignored', paymentId: null };
      const status = { PAID: 'succeeded', CANCELED: 'canceled', ERROR: 'failed', HELD: 'authorized' }[
        update.status as 'PAID' | 'CANCELED' | 'ERROR' | 'HELD'
      ];
      if (status) {
        await organizationOf(tx, intent).recordIntentResult(intent.id, {
          gatewayIntentId: event.paymentIntentId,
          status,
        });
      }
      return { outcome: status ? 'applied' : 'ignored', paymentId: null };
    }
    if (update.kind === 'payment' && update.status === 'REFUND' && event.amountRefundedCents !== null) {
      return { outcome: await recordStripeRefund(tx, payment, event.amountRefundedCents), paymentId: payment.id };
    }
    const changes = transition(payment, event);
    if (!changes) return { outcome: 'unchanged', paymentId: payment.id };
    // With its case event (PAYMENT_COMPLETED when it paid, ...), in the event's transaction.
    await changePayment(tx, Tenant.forOperator(payment.organization_id, 'a Stripe event names a gateway object'), {
      payment,
      changes,
      actor: { kind: 'system', id: null },
      detail: { settledBy: 'stripe-webhook', stripeEventId: event.id },
    });
    return { outcome: 'applied', paymentId: payment.id };
  }
}

/**
 * `charge.refunded` (a refund made in Stripe's dashboard, or one of ours reported back): the charge's total refunded
 * so far, less what our refund records already hold (succeeded, and pending ones whose answer is on its way), is a
 * refund we have not recorded. It is recorded as a `webhook` refund row with the payment's new amount refunded and
 * its case event, in the event's transaction (the payment is locked by findPaymentForGateway). A redelivery, an event
 * reporting a total already recorded, or an older event arriving late records nothing.
 */
async function recordStripeRefund(
  tx: Queryable,
  payment: CasePaymentRow,
  reportedCents: number,
): Promise<WebhookOutcome> {
  if (!ALLOWED_FROM.REFUND.includes(payment.status)) return 'unchanged';
  const { rows } = await tx.query<{ succeeded: number; pending: number }>(
    `select coalesce(sum(amount_cents) filter (where status = 'succeeded'), 0)::int as succeeded,
            coalesce(sum(amount_cents) filter (where status = 'pending'), 0)::int as pending
       from case_payment_refunds where organization_id = $1 and case_payment_id = $2`,
    [payment.organization_id, payment.id],
  );
  const recorded = Math.max(rows[0]!.succeeded, payment.amount_refunded_cents) + rows[0]!.pending;
  const missing = Math.min(reportedCents, payment.amount_captured_cents || reportedCents) - recorded;
  if (missing <= 0) return 'unchanged';
  const tenant = Tenant.forOperator(payment.organization_id, 'a Stripe event names a gateway object');
  await tx.query(
    `insert into case_payment_refunds (id, organization_id, case_payment_id, amount_cents, status, source)
     values ($1, $2, $3, $4, 'succeeded', 'webhook')`,
    [randomUUID(), payment.organization_id, payment.id, missing],
  );
  await applyRefund(tx, tenant, payment, missing, { kind: 'system', id: null });
  return 'applied';
}

/** The repository of the organization a gateway object found by the event belongs to. */
function organizationOf(tx: Queryable, row: { organization_id: string }): PaymentRepository {
  return new PaymentRepository(tx, Tenant.forOperator(row.organization_id, 'a Stripe event names a gateway object'));
}

/** The changes an event makes to a payment, or null when it changes nothing. */
export function transition(payment: CasePaymentRow, event: GatewayWebhookEvent): PaymentChanges | null {
  const update = event.update;
  if (!update || update.kind !== 'payment') return null;
  const reference = payment.gateway_reference ? {} : { gateway_reference: event.paymentIntentId };
  if (update.status === 'HELD') {
    if (payment.hold_status !== 'PENDING') return null;
    return { ...reference, hold_status: 'HELD', capture_before: event.captureBefore };
  }
  const target = update.status;
  if (!ALLOWED_FROM[target].includes(payment.status)) return null;
  if (target === payment.status && target !== 'REFUND') return null;
  const changes: PaymentChanges = { ...reference, status: target };
  const open = payment.hold_status === 'PENDING' || payment.hold_status === 'HELD';
  if (target === 'PAID' && open) {
    changes.hold_status = 'CAPTURED';
    changes.captured_at = new Date();
  }
  if (target === 'PAID' && event.amountReceivedCents !== null && event.amountReceivedCents > 0) {
    changes.amount_captured_cents = event.amountReceivedCents;
  }
  if (target === 'CANCELED' && open) {
    changes.hold_status = 'RELEASED';
    changes.released_at = new Date();
  }
  if (target === 'ERROR') {
    if (payment.hold_status === 'PENDING') changes.hold_status = 'FAILED';
    changes.failure_message = event.failureMessage;
  }
  if (target === 'REFUND') {
    if (event.amountRefundedCents === null || event.amountRefundedCents === payment.amount_refunded_cents) {
      if (payment.status === 'REFUND') return null;
    }
    if (event.amountRefundedCents !== null) changes.amount_refunded_cents = event.amountRefundedCents;
  }
  return changes;
}
