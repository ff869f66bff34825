import type { Database, Queryable } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { Tenant } from '../../http/gate.ts';
import { isUuid } from '../../uuid.ts';
import type { CaseEventActor } from '../cases/lifecycle/events.ts';
import type { GatewayDirectory } from './credentials.ts';
import {
  GatewayRequestError,
  GatewayUnavailableError,
  GatewayUnsupportedError,
  keyStillReplayed,
  type PaymentGateway,
  type PaymentResult,
} from './gateways/types.ts';
import { changePayment, paymentEventOf } from './payment-events.ts';
import { PaymentRepository, type CasePaymentRow, type PaymentChanges, type SavedMethodRecord } from './repository.ts';
import { gatewayKey } from './service.ts';
import { BackgroundLoop, type JobLog } from '../../background-loop.ts';

/** The server itself changes the case: no caller asked for this charge at that moment. */
const SYSTEM: CaseEventActor = { kind: 'system', id: null };

export interface ApprovalChargeRow {
  id: string;
  organization_id: string;
  case_id: string;
  case_payment_id: string;
  decision_id: string;
  operation: 'charge' | 'capture' | 'release';
  saved_method_id: string | null;
  status: 'pending' | 'succeeded' | 'failed' | 'skipped';
  attempts: number;
  gateway_reference: string | null;
  last_error: string | null;
  /** Which charge of the record this is: a declined charge is charged again, as round 2, 3..., after a new card. */
  round: number;
}

const jobColumns = `id, organization_id, case_id, case_payment_id, decision_id, operation, saved_method_id, status,
  attempts, gateway_reference, last_error, round`;

/**
 * The approval charges of every organization: the job starts from no caller, so these statements name the
 * organization of each row themselves (each row's payment is then read through its organization's Tenant).
 */
export class ApprovalChargeQueue {
  constructor(private readonly db: Queryable) {}

  /**
   * One charge record for each payment still owed (UNPAID, with no hold or a hold still HELD; not a payment
   * reported as taken elsewhere) whose case's latest decision (not deleted) approves it and came after it, in an
   * organization that charges on approval. A deleted approval charges nothing. The unique index makes concurrent
   * scans, and decisions recorded twice, one record.
   */
  async scan(): Promise<number> {
    const { rowCount } = await this.db.query(
      `insert into payment_approval_charges (id, organization_id, case_id, case_payment_id, decision_id, operation)
       select gen_random_uuid(), p.organization_id, p.case_id, p.id, d.id,
              case when p.hold_status = 'HELD' then 'capture' else 'charge' end
         from case_payments p
         join lateral (
           select id, created_at, is_approved from case_decisions
            where organization_id = p.organization_id and case_id = p.case_id and deleted_at is null
            order by created_at desc, id limit 1
         ) d on true
        where p.status = 'UNPAID' and p.hold_status in ('NONE', 'HELD') and p.source <> 'confirmation'
          and d.is_approved and p.created_at <= d.created_at
          and coalesce((select s.charge_on_approval from organization_payment_settings s
                         where s.organization_id = p.organization_id), true)
          and not exists (select 1 from payment_approval_charges j where j.case_payment_id = p.id)
       on conflict (case_payment_id) do nothing`,
    );
    return rowCount + (await this.scanRejections());
  }

  /**
   * One release record for each hold still HELD (and not reported as taken elsewhere) whose case's latest decision,
   * made after the hold was placed, rejects it (not a no-decision, not deleted), in an organization that releases on
   * rejection. Shares the unique index with the charges: a payment gets one record, whatever its decisions.
   */
  private async scanRejections(): Promise<number> {
    const { rowCount } = await this.db.query(
      `insert into payment_approval_charges (id, organization_id, case_id, case_payment_id, decision_id, operation)
       select gen_random_uuid(), p.organization_id, p.case_id, p.id, d.id, 'release'
         from case_payments p
         join lateral (
           select id, created_at, is_approved, is_no_decision from case_decisions
            where organization_id = p.organization_id and case_id = p.case_id and deleted_at is null
            order by created_at desc, id limit 1
         ) d on true
        where p.status = 'UNPAID' and p.hold_status = 'HELD' and p.source <> 'confirmation'
          and not d.is_approved and not d.is_no_decision and p.created_at <= d.created_at
          and coalesce((select s.release_on_rejection from organization_payment_settings s
                         where s.organization_id = p.organization_id), true)
          and not exists (select 1 from payment_approval_charges j where j.case_payment_id = p.id)
       on conflict (case_payment_id) do nothing`,
    );
    return rowCount;
  }

  /**
   * UPDATE_PAYMENT_INFO replaced the patient's card (in the caller's transaction): each approval charge of the
   * patient's cases that was declined starts a new round with the new card, once. Only a failed record starts a
   * round (a pending one is still at work), so replacing a card twice at once starts one.
   */
  async reopenDeclined(tenant: Tenant, patientId: string, savedMethodId: string): Promise<number> {
    const { rowCount } = await this.db.query(
      `update payment_approval_charges j
          set status = 'pending', round = j.round + 1, attempts = 0, saved_method_id = $3, gateway_reference = null,
              claimed_until = null, last_error = null, first_sent_at = null, updated_at = now()
         from case_payments p, cases c
        where j.organization_id = $1 and j.operation = 'charge' and j.status = 'failed'
          and p.organization_id = $1 and p.id = j.case_payment_id and p.status = 'ERROR' and p.hold_status = 'NONE'
          and c.organization_id = $1 and c.id = j.case_id and c.patient_id = $2
          and coalesce((select s.charge_on_approval from organization_payment_settings s
                         where s.organization_id = $1), true)`,
      [tenant.organizationId, patientId, savedMethodId],
    );
    return rowCount;
  }

  /** Approval charges left to an operator (KEY_OUTLIVED) of payments still UNPAID: what `chargeAgain` takes. */
  async leftToOperator(): Promise<ApprovalChargeRow[]> {
    const { rows } = await this.db.query<ApprovalChargeRow>(
      `select ${jobColumns.replace(/(\w+)/g, 'j.$1')}
         from payment_approval_charges j, case_payments p
        where ${LEFT_TO_OPERATOR}
        order by j.created_at limit 500`,
      [KEY_OUTLIVED],
    );
    return rows;
  }

  /**
   * An approval charge left to an operator (KEY_OUTLIVED) of a payment still UNPAID starts a new round, whose key
   * names its round and so is a new charge; once, since it then is no longer failed. Answers its record's id.
   */
  async chargeAgain(tenant: Tenant, paymentId: string): Promise<string | null> {
    const { rows } = await this.db.query<{ id: string }>(
      `update payment_approval_charges j
          set status = 'pending', round = j.round + 1, attempts = 0, gateway_reference = null, claimed_until = null,
              last_error = null, first_sent_at = null, updated_at = now()
         from case_payments p
        where ${LEFT_TO_OPERATOR} and j.organization_id = $2 and j.case_payment_id = $3 and p.organization_id = $2
        returning j.id`,
      [KEY_OUTLIVED, tenant.organizationId, paymentId],
    );
    return rows[0]?.id ?? null;
  }

  /** Claims up to `limit` due records for `leaseMs`: no other worker takes them meanwhile. */
  async claim(limit: number, leaseMs: number): Promise<ApprovalChargeRow[]> {
    const { rows } = await this.db.query<ApprovalChargeRow>(
      `update payment_approval_charges
          set claimed_until = now() + make_interval(secs => $2::float8 / 1000), attempts = attempts + 1,
              updated_at = now()
        where id in (select id from payment_approval_charges
                      where status = 'pending' and (claimed_until is null or claimed_until < now())
                      order by created_at, id limit $1 for update skip locked)
        returning ${jobColumns}`,
      [limit, leaseMs],
    );
    return rows;
  }

  /** The saved method the first attempt chose: every later attempt uses the same (its key names that charge). */
  async chooseMethod(id: string, savedMethodId: string): Promise<string> {
    const { rows } = await this.db.query<{ saved_method_id: string }>(
      `update payment_approval_charges set saved_method_id = coalesce(saved_method_id, $2), updated_at = now()
        where id = $1 returning saved_method_id`,
      [id, savedMethodId],
    );
    return rows[0]!.saved_method_id;
  }

  /** Notes the first send of the record's charge in this round; answers when that was. */
  async markSent(id: string): Promise<Date> {
    const { rows } = await this.db.query<{ first_sent_at: Date }>(
      `update payment_approval_charges set first_sent_at = coalesce(first_sent_at, now()), updated_at = now()
        where id = $1 returning first_sent_at`,
      [id],
    );
    return rows[0]!.first_sent_at;
  }

  /** The outcome is not known yet (an outage, a payment still processing): tried again after `delayMs`. */
  async retryLater(id: string, delayMs: number, error: string, gatewayReference: string | null = null): Promise<void> {
    await this.db.query(
      `update payment_approval_charges
          set claimed_until = now() + make_interval(secs => $2::float8 / 1000), last_error = $3,
              gateway_reference = coalesce($4, gateway_reference), updated_at = now()
        where id = $1 and status = 'pending'`,
      [id, delayMs, error.slice(0, 500), gatewayReference],
    );
  }

  /** Locks a pending record in the transaction that records its outcome; false when it is no longer pending. */
  async lockPending(id: string): Promise<boolean> {
    const { rows } = await this.db.query<{ status: string }>(
      'select status from payment_approval_charges where id = $1 for update',
      [id],
    );
    return rows[0]?.status === 'pending';
  }

  async close(
    id: string,
    status: 'succeeded' | 'failed' | 'skipped',
    detail: { error?: string | null; gatewayReference?: string | null } = {},
  ): Promise<void> {
    await this.db.query(
      `update payment_approval_charges
          set status = $2, last_error = $3, gateway_reference = coalesce($4, gateway_reference), claimed_until = null,
              updated_at = now()
        where id = $1 and status = 'pending'`,
      [id, status, detail.error?.slice(0, 500) ?? null, detail.gatewayReference ?? null],
    );
  }
}

export interface ApprovalChargeOptions {
  /** How often an idle job looks for approvals. */
  pollIntervalMs?: number;
  /** How long a claimed record is a worker's: longer than a gateway call with its retries. */
  leaseMs?: number;
  /** Records claimed at once. */
  batch?: number;
}

/** Why a charge is left to an operator: its first attempt's outcome is unknown, and its key is no longer replayed. */
const KEY_OUTLIVED =
  'The charge was first sent more than a day ago and its outcome is unknown. Stripe no longer replays its key, so ' +
  'it is not sent again: look for a PaymentIntent with this payment in its metadata (care360_case_payment_id)';

/** A charge record `j` left to an operator, of its payment `p` still owed; $1 is KEY_OUTLIVED. */
const LEFT_TO_OPERATOR = `j.operation = 'charge' and j.status = 'failed' and j.last_error = $1
          and p.id = j.case_payment_id and p.status = 'UNPAID'`;

/** The first retry's delay; each further one doubles, up to an hour. */
const FIRST_RETRY_MS = 10_000;
const MAX_RETRY_MS = 3600_000;

/**
 * Charge on approval (docs/api/payments.md#charge-on-approval). Reacts to approving decisions from this module
 * (the scan over case decisions), so the staff's decision code knows nothing of payments: each owed payment of
 * an approved case gets one record, claimed by one worker, which calls the gateway outside any transaction with
 * a key derived from the payment id (`care360:case-payment:<id>:approval-charge`; a hold's capture uses the
 * capture route's own key, so the two are one capture) and then records the payment's new state, its case event
 * and the record's outcome in one transaction. A worker that dies between the call and the record leaves the
 * record claimed until its lease lapses; the next attempt repeats the call with the same key (NMI, which has no
 * keys, is asked for the orderid first), so the card is charged once and the charge recorded once.
 */
export class ApprovalChargeJob {
  private readonly settings: Required<ApprovalChargeOptions>;
  private readonly loop: BackgroundLoop;

  constructor(
    private readonly db: Database,
    private readonly gateways: GatewayDirectory,
    options: ApprovalChargeOptions = {},
  ) {
    this.settings = {
      pollIntervalMs: options.pollIntervalMs ?? 2000,
      leaseMs: options.leaseMs ?? 5 * 60_000,
      batch: options.batch ?? 8,
    };
    this.loop = new BackgroundLoop(
      async () => {
        await this.runOnce();
      },
      {
        intervalMs: this.settings.pollIntervalMs,
        failureMessage: 'the approval charge job failed a pass; trying again',
      },
    );
  }

  start(log?: JobLog): void {
    this.loop.start(log);
  }

  /** Stops claiming and waits for the records in hand (a call cut short stays claimed until its lease lapses). */
  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** See ApprovalChargeQueue.leftToOperator. */
  leftToOperator(): Promise<ApprovalChargeRow[]> {
    return new ApprovalChargeQueue(this.db).leftToOperator();
  }

  /**
   * `care360 payments charge-again`: the operator found no charge at Stripe for a payment whose approval charge
   * was left to them (docs/operations.md#background-payment-jobs), so the next pass charges it anew.
   */
  async chargeAgain(tenant: Tenant, paymentId: string): Promise<{ approvalChargeId: string; paymentId: string }> {
    const id = isUuid(paymentId) ? await new ApprovalChargeQueue(this.db).chargeAgain(tenant, paymentId) : null;
    if (!id) {
      throw new ApiError(
        409,
        'No approval charge of this payment is left to an operator: only a charge whose outcome was unknown for a ' +
          'day, of a payment still UNPAID, is charged again',
      );
    }
    return { approvalChargeId: id, paymentId };
  }

  /** One pass: records new approvals, then works through what is due. Answers how many records it worked on. */
  async runOnce(): Promise<number> {
    const queue = new ApprovalChargeQueue(this.db);
    await queue.scan();
    let worked = 0;
    for (;;) {
      const claimed = await queue.claim(this.settings.batch, this.settings.leaseMs);
      if (claimed.length === 0) return worked;
      worked += claimed.length;
      await Promise.all(
        claimed.map((job) =>
          this.work(job).catch((error: unknown) =>
            // Left claimed: tried again when the lease lapses.
            this.loop.log?.error({ err: error, approvalChargeId: job.id }, 'approval charge failed unexpectedly'),
          ),
        ),
      );
      if (this.loop.signal.aborted) return worked;
    }
  }

  private async work(job: ApprovalChargeRow): Promise<void> {
    const tenant = Tenant.forOperator(job.organization_id, 'an approval charge names its organization');
    const payments = new PaymentRepository(this.db, tenant);
    const queue = new ApprovalChargeQueue(this.db);
    const payment = await payments.findPayment(job.case_id, job.case_payment_id);
    if (!payment) return queue.close(job.id, 'skipped', { error: 'The payment no longer exists' });
    if (job.operation === 'capture') return this.capture(job, tenant, payment);
    if (job.operation === 'release') return this.release(job, tenant, payment);
    return this.charge(job, tenant, payment);
  }

  private async charge(job: ApprovalChargeRow, tenant: Tenant, payment: CasePaymentRow): Promise<void> {
    const queue = new ApprovalChargeQueue(this.db);
    const payments = new PaymentRepository(this.db, tenant);
    // Only the first attempt may find the payment settled otherwise; a later one may have charged it itself. A
    // later round charges a payment its declined round left in ERROR.
    const owed = payment.status === 'UNPAID' || (job.round > 1 && payment.status === 'ERROR');
    if (job.attempts === 1 && (!owed || payment.hold_status !== 'NONE')) {
      return queue.close(job.id, 'skipped', { error: `The payment became ${payment.status} before its charge` });
    }
    const method = await this.methodFor(job, payments, payment);
    if (!method) {
      return queue.close(job.id, 'skipped', { error: "The case's patient has no saved payment method" });
    }
    const gateway = await this.gatewayOf(tenant, method.gateway);
    if (!gateway) {
      return queue.retryLater(
        job.id,
        this.delay(job),
        `The ${method.gateway} gateway of the saved method is not configured`,
      );
    }
    if (payment.amount_cents < gateway.minimumAmountCents) {
      return this.recordFailure(job, tenant, payment, `The amount is below ${gateway.name}'s minimum`, null);
    }
    // Every attempt without a gateway reference sends the charge; the first one notes when.
    if (!job.gateway_reference && !keyStillReplayed(gateway.name, await queue.markSent(job.id))) {
      if (payment.status !== 'UNPAID') {
        // Stripe's webhook recorded the charge meanwhile (only this job charges an owed payment's card).
        return queue.close(job.id, 'skipped', { error: `The payment became ${payment.status} before a retry` });
      }
      // Its outcome is unknown (else it would be recorded) and Stripe would take the key as a new charge.
      this.loop.log?.warn(
        { approvalChargeId: job.id, casePaymentId: job.case_payment_id },
        'approval charge left to an operator: its first attempt is more than a day old and its outcome unknown',
      );
      return queue.close(job.id, 'failed', { error: KEY_OUTLIVED });
    }
    let result: PaymentResult | null;
    try {
      result = job.gateway_reference
        ? await gateway.retrievePayment(job.gateway_reference)
        : await gateway.authorize({
            idempotencyKey: chargeKey(job),
            amountCents: payment.amount_cents,
            currency: payment.currency,
            captureLater: false,
            source: { savedMethod: method },
            description: payment.description,
            metadata: { care360_organization_id: payment.organization_id, care360_case_payment_id: payment.id },
            // A later attempt: the first may have reached the gateway (NMI looks its orderid up first).
            resume: job.attempts > 1,
          });
    } catch (error) {
      if (error instanceof GatewayUnavailableError) return queue.retryLater(job.id, this.delay(job), error.message);
      if (error instanceof GatewayRequestError || error instanceof GatewayUnsupportedError) {
        return this.recordFailure(job, tenant, payment, error.message, null, method);
      }
      throw error;
    }
    if (!result) return this.recordFailure(job, tenant, payment, 'The payment provider does not know the charge', null);
    if (result.status === 'succeeded') return this.recordCharged(job, tenant, payment, result, method);
    if (result.status === 'failed' || result.status === 'canceled') {
      return this.recordFailure(job, tenant, payment, result.failureMessage ?? 'declined', result.id || null, method);
    }
    // Processing, or waiting for the customer: read back later.
    return queue.retryLater(job.id, this.delay(job), `The charge is ${result.status}`, result.id || null);
  }

  /** The capture route's claim and key for a whole capture: a twin capture through the API is the same one. */
  private async capture(job: ApprovalChargeRow, tenant: Tenant, payment: CasePaymentRow): Promise<void> {
    const hold = await this.claimHeld(job, tenant, payment, 'capture', payment.amount_cents);
    if (!hold) return;
    const { gateway, claimed, reference } = hold;
    const queue = new ApprovalChargeQueue(this.db);
    let result: PaymentResult | null;
    try {
      result = await gateway.capture({ idempotencyKey: gatewayKey('case-payment', payment.id, 'capture'), reference });
    } catch (error) {
      if (error instanceof GatewayUnavailableError) return queue.retryLater(job.id, this.delay(job), error.message);
      if (!(error instanceof GatewayRequestError)) throw error;
      // Refused: captured or released another way meanwhile, or the hold lapsed. The gateway says which.
      result = await gateway.retrievePayment(reference).catch(() => null);
      if (result?.status !== 'succeeded') return this.recordFailure(job, tenant, claimed, error.message, null);
    }
    if (!result || result.status !== 'succeeded') {
      return this.recordFailure(job, tenant, claimed, result?.failureMessage ?? 'The capture failed', null);
    }
    return this.recordCharged(job, tenant, claimed, result, null);
  }

  /**
   * A rejection releases the hold with the cancel route's claim and key (`...:release`): a twin cancel through the
   * API is the same release. A worker that dies after the gateway's answer leaves the claim; the next attempt sends
   * the same release again (Stripe replays its key; NMI refuses a second void and is asked what became of the hold).
   */
  private async release(job: ApprovalChargeRow, tenant: Tenant, payment: CasePaymentRow): Promise<void> {
    const hold = await this.claimHeld(job, tenant, payment, 'release', null);
    if (!hold) return;
    const { gateway, claimed, reference } = hold;
    const queue = new ApprovalChargeQueue(this.db);
    let released: boolean;
    let reason = 'The release failed';
    try {
      released =
        (await gateway.cancel({ idempotencyKey: gatewayKey('case-payment', payment.id, 'release'), reference }))
          .status === 'canceled';
    } catch (error) {
      if (error instanceof GatewayUnavailableError) return queue.retryLater(job.id, this.delay(job), error.message);
      if (!(error instanceof GatewayRequestError)) throw error;
      // Refused: released or captured another way meanwhile (Stripe's dashboard), or lapsed. The gateway says which.
      released = (await gateway.retrievePayment(reference).catch(() => null))?.status === 'canceled';
      reason = error.message;
    }
    if (!released) return this.recordFailure(job, tenant, claimed, reason, null);
    return this.settle(job, tenant, claimed, 'succeeded', {}, (before) =>
      before.hold_status === 'HELD'
        ? {
            hold_status: 'RELEASED',
            status: 'CANCELED',
            released_at: new Date(),
            hold_operation: null,
            hold_operation_cents: null,
          }
        : { hold_operation: null, hold_operation_cents: null },
    );
  }

  /**
   * The prelude of a capture or a release: the hold still HELD, its gateway configured, and the hold claimed for
   * `operation` as the API's routes claim it. Null when the record is closed or put off instead (a hold no longer
   * HELD, a gateway not configured, another operation on the hold in progress).
   */
  private async claimHeld(
    job: ApprovalChargeRow,
    tenant: Tenant,
    payment: CasePaymentRow,
    operation: 'capture' | 'release',
    cents: number | null,
  ): Promise<{ gateway: PaymentGateway; claimed: CasePaymentRow; reference: string } | null> {
    const queue = new ApprovalChargeQueue(this.db);
    const payments = new PaymentRepository(this.db, tenant);
    if (payment.hold_status !== 'HELD' || !payment.gateway || !payment.gateway_reference) {
      await queue.close(job.id, 'skipped', { error: `The hold is ${payment.hold_status}` });
      return null;
    }
    const gateway = await this.gatewayOf(tenant, payment.gateway);
    if (!gateway) {
      await queue.retryLater(job.id, this.delay(job), `The ${payment.gateway} gateway of the hold is not configured`);
      return null;
    }
    const claimed = await payments.claimHold(payment.id, operation, cents, this.settings.leaseMs);
    if (claimed) return { gateway, claimed, reference: payment.gateway_reference };
    const found = (await payments.findPayment(payment.case_id, payment.id))!;
    if (found.hold_status === 'HELD') {
      await queue.retryLater(job.id, this.delay(job), 'Another operation on the hold is in progress');
    } else {
      await queue.close(job.id, 'skipped', { error: `The hold is ${found.hold_status}` });
    }
    return null;
  }

  /** The payment is paid: its row, its PAYMENT_COMPLETED event and the record's outcome, in one transaction. */
  private recordCharged(
    job: ApprovalChargeRow,
    tenant: Tenant,
    payment: CasePaymentRow,
    result: PaymentResult,
    method: SavedMethodRecord | null,
  ): Promise<void> {
    return this.settle(job, tenant, payment, 'succeeded', { gatewayReference: result.id || null }, (before) => {
      const changes: PaymentChanges = { hold_operation: null, hold_operation_cents: null, failure_message: null };
      // A webhook may have recorded the payment first (PAID), or moved it on since (refund, dispute): kept.
      if (before.status === 'UNPAID' || before.status === 'ERROR') {
        Object.assign(changes, {
          status: 'PAID',
          amount_captured_cents: result.amountReceivedCents || before.amount_cents,
          captured_at: new Date(),
        } satisfies PaymentChanges);
        if (job.operation === 'capture') changes.hold_status = 'CAPTURED';
      }
      // A later round's charge is the payment's now; the declined one before it stays at the gateway only.
      if (!before.gateway_reference || (job.round > 1 && before.status === 'ERROR')) {
        changes.gateway_reference = result.id;
      }
      return withMethod(changes, method);
    });
  }

  /**
   * The charge was declined or refused: the payment shows it (ERROR and the reason; a hold that could not be
   * captured stays HELD with the reason), with its case event, in one transaction.
   */
  private recordFailure(
    job: ApprovalChargeRow,
    tenant: Tenant,
    payment: CasePaymentRow,
    message: string,
    reference: string | null,
    method: SavedMethodRecord | null = null,
  ): Promise<void> {
    return this.settle(job, tenant, payment, 'failed', { error: message, gatewayReference: reference }, (before) => {
      const changes: PaymentChanges = { failure_message: message.slice(0, 500) };
      if (job.operation !== 'charge') return { ...changes, hold_operation: null, hold_operation_cents: null };
      const laterRound = job.round > 1 && before.status === 'ERROR';
      if (before.status !== 'UNPAID' && !laterRound) return changes;
      changes.status = 'ERROR';
      if (reference && (!before.gateway_reference || laterRound)) changes.gateway_reference = reference;
      return withMethod(changes, method);
    });
  }

  /**
   * Records a record's outcome once: the record still pending (locked), the payment's changes as `changesOf` makes
   * them from the payment as it is now (locked), its case event (changePayment: none when another path recorded the
   * change first), and the record closed, in one transaction.
   */
  private async settle(
    job: ApprovalChargeRow,
    tenant: Tenant,
    payment: CasePaymentRow,
    outcome: 'succeeded' | 'failed',
    detail: { error?: string | null; gatewayReference?: string | null },
    changesOf: (before: CasePaymentRow) => PaymentChanges,
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      const queue = new ApprovalChargeQueue(tx);
      if (!(await queue.lockPending(job.id))) return;
      const released = job.operation === 'release';
      await changePayment(tx, tenant, {
        payment,
        changes: changesOf,
        actor: SYSTEM,
        detail: {
          ...(released ? { releasedOn: 'rejection' } : { chargedOn: 'approval', round: job.round }),
          decisionId: job.decision_id,
        },
        // A refused attempt that leaves the payment as it was (a hold that could not be captured, a new card's
        // charge declined again) is reported too; one a webhook recorded first is not reported twice.
        eventOf: (before, after) => {
          const attempted = before.status === 'UNPAID' || (before.status === 'ERROR' && job.round > 1);
          return paymentEventOf(before, after) ?? (outcome === 'failed' && attempted ? 'case.payment_failed' : null);
        },
      });
      await queue.close(job.id, outcome, detail);
    });
  }

  /** The method the record names, else the patient's latest (a card replaced since the intake is the one used). */
  private async methodFor(
    job: ApprovalChargeRow,
    payments: PaymentRepository,
    payment: CasePaymentRow,
  ): Promise<SavedMethodRecord | null> {
    if (job.saved_method_id) return payments.savedMethod(job.saved_method_id);
    const found = await payments.findCase(payment.case_id);
    const latest = found ? await payments.latestSavedMethod(found.patient_id) : null;
    const chosen = latest ?? (payment.saved_method_id ? await payments.savedMethod(payment.saved_method_id) : null);
    if (!chosen) return null;
    const kept = await new ApprovalChargeQueue(this.db).chooseMethod(job.id, chosen.id);
    return kept === chosen.id ? chosen : payments.savedMethod(kept);
  }

  private async gatewayOf(tenant: Tenant, name: string): Promise<PaymentGateway | undefined> {
    return (await this.gateways.forOrganization(tenant.organizationId)).byName[name as PaymentGateway['name']];
  }

  private delay(job: ApprovalChargeRow): number {
    return Math.min(FIRST_RETRY_MS * 2 ** Math.max(0, job.attempts - 1), MAX_RETRY_MS);
  }
}

/**
 * The gateway key of a record's charge: the first round's is the one every release of the server has used; a later
 * round (a new card after a decline) names its round, so it is a new charge, and its retries replay it.
 */
function chargeKey(job: ApprovalChargeRow): string {
  const operation = job.round === 1 ? 'approval-charge' : `approval-charge-round-${job.round}`;
  return gatewayKey('case-payment', job.case_payment_id, operation);
}

/** The payment now names the gateway and saved method it was charged with. */
function withMethod(changes: PaymentChanges, method: SavedMethodRecord | null): PaymentChanges {
  return method ? { ...changes, gateway: method.gateway, saved_method_id: method.id } : changes;
}

/** An organization's payment settings (absent row: the defaults). */
export interface PaymentSettings {
  chargeOnApproval: boolean;
  releaseOnRejection: boolean;
}

/** The settings of one organization, built with its Tenant (the admin API names it through its path). */
export class PaymentSettingsRepository {
  private readonly organizationId: string;

  constructor(
    private readonly db: Queryable,
    tenant: Tenant,
  ) {
    this.organizationId = tenant.organizationId;
  }

  async get(): Promise<PaymentSettings> {
    const { rows } = await this.db.query<{ charge_on_approval: boolean; release_on_rejection: boolean }>(
      'select charge_on_approval, release_on_rejection from organization_payment_settings where organization_id = $1',
      [this.organizationId],
    );
    return {
      chargeOnApproval: rows[0]?.charge_on_approval ?? true,
      releaseOnRejection: rows[0]?.release_on_rejection ?? true,
    };
  }

  async update(changes: Partial<PaymentSettings>): Promise<PaymentSettings> {
    const current = await this.get();
    const next = { ...current, ...changes };
    await this.db.query(
      `insert into organization_payment_settings (organization_id, charge_on_approval, release_on_rejection)
       values ($1, $2, $3)
       on conflict (organization_id) do update set charge_on_approval = excluded.charge_on_approval,
         release_on_rejection = excluded.release_on_rejection, updated_at = now()`,
      [this.organizationId, next.chargeOnApproval, next.releaseOnRejection],
    );
    return next;
  }
}
