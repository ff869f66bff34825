import type { Database } from '../../db/database.ts';
import { Tenant } from '../../http/gate.ts';
import { BackgroundLoop, type JobLog } from '../../background-loop.ts';
import type { GatewayDirectory } from './credentials.ts';
import { NmiGateway } from './gateways/nmi.ts';
import { changePayment } from './payment-events.ts';
import { PaymentsAcrossOrganizations, type CasePaymentRow, type PaymentChanges } from './repository.ts';
import type { RefundService } from './refunds.ts';
import { gatewayKey, type PaymentService } from './service.ts';

export interface PaymentSweepOptions {
  /** How often the sweep runs. */
  pollIntervalMs?: number;
  /** A PENDING NMI hold this old is settled from NMI's Query API (younger ones may still be retried). */
  pendingHoldAfterMinutes?: number;
  /** An intake charge without its case this old is refunded (younger ones may still be taken by a retry). */
  orphanChargeAfterMinutes?: number;
  /** A pending NMI refund this old is settled from NMI's Query API (younger ones may still be retried). */
  pendingRefundAfterMinutes?: number;
}

export interface PaymentSweepReport {
  /** PENDING NMI holds found at NMI and recorded HELD. */
  holdsSettled: number;
  /** PENDING NMI holds NMI has no approved authorization for, recorded FAILED. */
  holdsFailed: number;
  /** Intake charges whose case was never written, refunded. */
  orphansRefunded: number;
  /** Pending NMI refunds found at NMI and recorded succeeded. */
  refundsSettled: number;
  /** Pending NMI refunds NMI never made, recorded failed. */
  refundsFailed: number;
}

/** What the sweep did with one PENDING hold. */
type HoldOutcome = 'settled' | 'failed' | 'unknown';

/**
 * The payment sweep (docs/operations.md#the-payment-sweep). Three kinds of records wait for a question nobody else
 * asks: an NMI hold whose creation timed out (PENDING) and was never retried (NMI sends no webhooks), a refund left
 * pending the same way (NMI or Stripe), and an intake charge whose case was never written (the process died between
 * the sale and the case, or the void failed). Each pass asks NMI's Query API for each stale hold by its orderid (the
 * hold's gateway key) and records what NMI has: an approved authorization makes the hold HELD (the decision jobs
 * then capture or release it as for any hold), none makes it FAILED, an unanswered query leaves it for the next
 * pass. Stale refunds are looked up at their gateway by key (RefundService.settleAbandoned). It then refunds the
 * orphaned intake charges with the operator command's code (`payments orphans --refund`: claimed, one key per
 * charge).
 */
export class PaymentSweepJob {
  private readonly settings: Required<PaymentSweepOptions>;
  private readonly loop: BackgroundLoop;

  constructor(
    private readonly db: Database,
    private readonly gateways: GatewayDirectory,
    private readonly payments: PaymentService,
    private readonly refunds: RefundService,
    options: PaymentSweepOptions = {},
  ) {
    this.settings = {
      pollIntervalMs: options.pollIntervalMs ?? 60_000,
      pendingHoldAfterMinutes: options.pendingHoldAfterMinutes ?? 15,
      orphanChargeAfterMinutes: options.orphanChargeAfterMinutes ?? 15,
      pendingRefundAfterMinutes: options.pendingRefundAfterMinutes ?? 15,
    };
    this.loop = new BackgroundLoop(
      async () => {
        await this.runOnce();
      },
      { intervalMs: this.settings.pollIntervalMs, failureMessage: 'the payment sweep failed a pass; trying again' },
    );
  }

  start(log?: JobLog): void {
    this.loop.start(log);
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  async runOnce(): Promise<PaymentSweepReport> {
    const report: PaymentSweepReport = {
      holdsSettled: 0,
      holdsFailed: 0,
      orphansRefunded: 0,
      refundsSettled: 0,
      refundsFailed: 0,
    };
    const stale = await new PaymentsAcrossOrganizations(this.db).listStalePendingHolds(
      'nmi',
      this.settings.pendingHoldAfterMinutes,
    );
    for (const hold of stale) {
      if (this.loop.signal.aborted) return report;
      const outcome = await this.settleHold(hold).catch((error: unknown) => {
        this.loop.log?.warn({ err: error, paymentId: hold.id }, 'the NMI sweep could not settle a pending hold');
        return 'unknown' as const;
      });
      if (outcome === 'settled') report.holdsSettled += 1;
      if (outcome === 'failed') report.holdsFailed += 1;
    }
    for (const refund of await this.refunds.listAbandoned(this.settings.pendingRefundAfterMinutes)) {
      if (this.loop.signal.aborted) return report;
      const outcome = await this.refunds.settleAbandoned(refund).catch((error: unknown) => {
        this.loop.log?.warn({ err: error, refundId: refund.id }, 'the payment sweep could not settle a pending refund');
        return 'unknown' as const;
      });
      if (outcome === 'settled') report.refundsSettled += 1;
      if (outcome === 'failed') report.refundsFailed += 1;
    }
    const orphans = await this.payments.orphanCharges(this.settings.orphanChargeAfterMinutes, true);
    for (const orphan of orphans) {
      if (orphan.outcome === 'refunded') report.orphansRefunded += 1;
      else
        this.loop.log?.warn(
          { recordId: orphan.recordId, outcome: orphan.outcome },
          'an orphaned charge was not refunded',
        );
    }
    return report;
  }

  private async settleHold(hold: CasePaymentRow): Promise<HoldOutcome> {
    const tenant = Tenant.forOperator(hold.organization_id, 'a pending hold names its organization');
    const gateway = (await this.gateways.forOrganization(hold.organization_id)).byName.nmi;
    if (!(gateway instanceof NmiGateway)) return 'unknown';
    // The key the hold was placed with; an unanswered query throws, and the hold waits for the next pass.
    const found = await gateway.findApproved(gatewayKey('case-payment', hold.id, 'hold'), 'auth');
    const changes: PaymentChanges = found
      ? { hold_status: 'HELD', gateway_reference: found.transactionId, failure_message: null }
      : {
          hold_status: 'FAILED',
          status: 'ERROR',
          failure_message: 'The hold was never placed: NMI has no approved authorization for it',
        };
    // A retry of the hold through the API may have recorded it meanwhile: it is the hold's, not the sweep's.
    const changed = await this.db.transaction((tx) =>
      changePayment(tx, tenant, {
        payment: hold,
        expected: { hold_status: 'PENDING', gateway_reference: null },
        changes,
        actor: { kind: 'system', id: null },
        detail: { settledBy: 'nmi-sweep' },
      }),
    );
    if (!changed) return 'unknown';
    return found ? 'settled' : 'failed';
  }
}
