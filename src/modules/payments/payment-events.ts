import type { Queryable } from '../../db/database.ts';
import type { Tenant } from '../../http/gate.ts';
import { recordCaseEvent, type CaseEventActor, type CaseEventType } from '../cases/lifecycle/events.ts';
import { PaymentRepository, type CasePaymentRow, type PaymentChanges } from './repository.ts';

/** What a payment's case events record of it: identifiers, states and amounts, never PHI. */
export function paymentState(row: CasePaymentRow): Record<string, unknown> {
  return {
    paymentId: row.id,
    status: row.status,
    holdStatus: row.hold_status,
    amountCents: row.amount_cents,
    amountCapturedCents: row.amount_captured_cents,
    amountRefundedCents: row.amount_refunded_cents,
  };
}

/**
 * The case event a change of a payment writes, from its state before and after: one event per change of `status`,
 * or of a pending hold to HELD; none when neither moved (a repeat, a twin request or a webhook that found the change
 * already recorded, a claim taken or let go). The one rule every path that changes a payment follows.
 */
export function paymentEventOf(
  before: Pick<CasePaymentRow, 'status' | 'hold_status'>,
  after: Pick<CasePaymentRow, 'status' | 'hold_status'>,
): CaseEventType | null {
  if (after.status !== before.status) {
    switch (after.status) {
      case 'PAID':
        return before.status === 'IN_DISPUTE' ? 'case.payment_dispute_won' : 'case.payment_completed';
      case 'CANCELED':
        return before.hold_status === 'HELD' || before.hold_status === 'PENDING'
          ? 'case.payment_released'
          : 'case.payment_canceled';
      case 'ERROR':
        return 'case.payment_failed';
      case 'REFUND':
        return 'case.payment_refunded';
      case 'IN_DISPUTE':
        return 'case.payment_disputed';
      case 'LOST_DISPUTE':
        return 'case.payment_dispute_lost';
      case 'UNPAID':
        // No change moves a payment back to UNPAID.
        return null;
    }
  }
  if (before.hold_status === 'PENDING' && after.hold_status === 'HELD') return 'case.payment_held';
  return null;
}

export interface PaymentChange {
  payment: Pick<CasePaymentRow, 'id' | 'case_id'>;
  /** Columns the payment must still hold (nulls included); else nothing is written and the answer is null. */
  expected?: Partial<
    Pick<CasePaymentRow, 'status' | 'hold_status' | 'hold_operation' | 'hold_operation_cents' | 'gateway_reference'>
  >;
  /** The changes, or how to make them from the payment as it is now (locked). */
  changes: PaymentChanges | ((before: CasePaymentRow) => PaymentChanges);
  actor: CaseEventActor;
  /** What the event's `after` adds to the payment's state (who settled it, the decision behind it). */
  detail?: Record<string, unknown>;
  /** The event of the change; paymentEventOf unless a path reports more (a failed attempt that moves nothing). */
  eventOf?: (before: CasePaymentRow, after: CasePaymentRow) => CaseEventType | null;
}

/**
 * Changes a payment and writes its case event (and so its webhook deliveries), in the caller's transaction: the
 * payment is locked and read first, so of two changes at once the second sees the first and writes no event for a
 * change already made. Null when the payment is not as `expected`: nothing is written.
 */
export async function changePayment(
  tx: Queryable,
  tenant: Tenant,
  change: PaymentChange,
): Promise<{ before: CasePaymentRow; after: CasePaymentRow } | null> {
  const payments = new PaymentRepository(tx, tenant);
  const before = await payments.lockPayment(change.payment.case_id, change.payment.id);
  if (!before) return null;
  for (const [name, value] of Object.entries(change.expected ?? {})) {
    if (before[name as keyof CasePaymentRow] !== value) return null;
  }
  const changes = typeof change.changes === 'function' ? change.changes(before) : change.changes;
  const after = await payments.updatePayment(before.id, changes);
  const type = (change.eventOf ?? paymentEventOf)(before, after);
  if (type) {
    await recordCaseEvent(tx, {
      organizationId: tenant.organizationId,
      caseId: before.case_id,
      actor: change.actor,
      type,
      before: paymentState(before),
      after: { ...paymentState(after), ...change.detail },
      subject: { paymentId: before.id },
    });
  }
  return { before, after };
}
