import { createHash, randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import { ApiError, IdempotencyConflictError } from '../../http/api-error.ts';
import { Tenant } from '../../http/gate.ts';
import { centsToDecimalString } from '../../money.ts';
import { isUuid } from '../../uuid.ts';
import { recordCaseEvent, type CaseEventActor } from '../cases/lifecycle/events.ts';
import type { ProductService } from '../products/service.ts';
import type { GatewayDirectory } from './credentials.ts';
import { changePayment } from './payment-events.ts';
import {
  GatewayRequestError,
  GatewayUnavailableError,
  GatewayUnsupportedError,
  keyStillReplayed,
  type PaymentGateway,
  type PaymentResult,
} from './gateways/types.ts';
import {
  CASE_PAYMENT_IDEMPOTENCY_INDEX,
  PaymentRepository,
  PaymentsAcrossOrganizations,
  type CasePaymentRow,
  type HoldOperation,
  type PaymentChanges,
  type PaymentStatus,
} from './repository.ts';

export const CURRENCY = 'usd';

/**
 * How long a capture or release holds its payment (claimHold) if its request dies: well past the gateway's
 * timeout and retries.
 */
const HOLD_OPERATION_CLAIM_MS = 10 * 60_000;

/** Why a Stripe hold left pending for a day is not placed again (resumeOrConflict). */
const HOLD_KEY_OUTLIVED =
  'This hold was first requested more than a day ago and its outcome is unknown. Stripe no longer replays its key, ' +
  "so it is not placed again: it stays PENDING until Stripe's webhook settles it";

/** A Stripe hold still PENDING once its key is outlived: no retry sends it; its webhook or an operator settles it. */
const holdLeftToOperator = (row: CasePaymentRow) =>
  row.gateway === 'stripe' &&
  row.hold_status === 'PENDING' &&
  !row.gateway_reference &&
  !keyStillReplayed(row.gateway, row.created_at);

/** How long `payments orphans --refund` holds a charge while it refunds it (one gateway call). */
const ORPHAN_REFUND_CLAIM_MS = 120_000;

/** The idempotency key of one gateway operation on one of our records. */
export function gatewayKey(kind: string, recordId: string, operation: string): string {
  return `care360:${kind}:${recordId}:${operation}`;
}

/** Gateway failures as API errors: an outage is 503 (retry), a refusal 502; declines are handled by callers. */
export function gatewayError(error: unknown): unknown {
  if (error instanceof GatewayUnavailableError) {
    return new ApiError(503, 'The payment provider is unavailable; please retry');
  }
  if (error instanceof GatewayRequestError)
    return new ApiError(502, `The payment provider refused the request: ${error.message}`);
  if (error instanceof GatewayUnsupportedError) return new ApiError(400, error.message);
  return error;
}

export interface CasePaymentInput {
  amountCents: number;
  description: string | null;
  productId: string | null;
  status: PaymentStatus | null;
  idempotencyKey: string | null;
  preauthorize: boolean;
}

export interface PaymentMetadata {
  email?: string;
  phone?: string;
}

/**
 * Payments: intents for the browser, case payments with holds, captures and releases, webhook updates.
 * The rule everywhere: record first, call the gateway with a key derived from that record, record the
 * outcome; no database transaction is open during a gateway call.
 */
export class PaymentService {
  constructor(
    private readonly db: Database,
    private readonly gateways: GatewayDirectory,
    private readonly products: ProductService,
  ) {}

  /** POST /api/v1/payments/setup: a SetupIntent whose client secret the browser confirms. */
  async createSetupIntent(tenant: Tenant, metadata: PaymentMetadata): Promise<string> {
    const { organizationId } = tenant;
    const gateway = (await this.gateways.forOrganization(organizationId)).card;
    const repository = new PaymentRepository(this.db, tenant);
    const recordId = randomUUID();
    await repository.insertIntent({
      id: recordId,
      gateway: gateway.name,
      kind: 'setup',
      amountCents: null,
    });
    try {
      const setup = await gateway.createSetupIntent({
        idempotencyKey: gatewayKey('setup-intent', recordId, 'create'),
        metadata: { ...cleanMetadata(metadata), care360_organization_id: organizationId, care360_record_id: recordId },
      });
      await repository.recordIntentResult(recordId, {
        gatewayIntentId: setup.id,
        status: setup.status,
        customerId: setup.customerId,
        paymentMethodId: setup.paymentMethodId,
      });
      if (!setup.clientSecret) throw new ApiError(502, 'The payment provider returned no client secret');
      return setup.clientSecret;
    } catch (error) {
      await repository.failIntent(recordId);
      throw gatewayError(error);
    }
  }

  /** POST /api/v1/payments/intent: a PaymentIntent for `amountCents`, confirmed by the browser. */
  async createPaymentIntent(
    tenant: Tenant,
    input: { amountCents: number; paymentMethodTypes: string[] | undefined; metadata: PaymentMetadata },
  ): Promise<string> {
    const { organizationId } = tenant;
    const gateway = (await this.gateways.forOrganization(organizationId)).card;
    const repository = new PaymentRepository(this.db, tenant);
    const recordId = randomUUID();
    await repository.insertIntent({
      id: recordId,
      gateway: gateway.name,
      kind: 'payment',
      amountCents: input.amountCents,
    });
    try {
      const intent = await gateway.createPaymentIntent({
        idempotencyKey: gatewayKey('payment-intent', recordId, 'create'),
        amountCents: input.amountCents,
        currency: CURRENCY,
        paymentMethodTypes: input.paymentMethodTypes,
        metadata: {
          ...cleanMetadata(input.metadata),
          care360_organization_id: organizationId,
          care360_record_id: recordId,
        },
      });
      await repository.recordIntentResult(recordId, { gatewayIntentId: intent.id, status: intent.status });
      if (!intent.clientSecret) throw new ApiError(502, 'The payment provider returned no client secret');
      return intent.clientSecret;
    } catch (error) {
      await repository.failIntent(recordId);
      if (error instanceof GatewayRequestError) throw new ApiError(400, error.message);
      throw gatewayError(error);
    }
  }

  /**
   * POST /api/v1/cases/:caseId/payments. Without preauthorize: a record (UNPAID by default). With it: a hold
   * on the patient's saved payment method. A repeated idempotencyKey is a 409, except when the first
   * request with it left a hold whose outcome is unknown (gateway timeout): then the same request resumes
   * it, with the same gateway idempotency key, so the card is held once.
   */
  async createCasePayment(
    tenant: Tenant,
    caseId: string,
    input: CasePaymentInput,
    actor: CaseEventActor,
  ): Promise<CasePaymentRow> {
    const repository = new PaymentRepository(this.db, tenant);
    const found = await repository.findCase(caseId);
    if (!found) throw new ApiError(404, 'Case not found');
    const product = input.productId ? await this.products.findProduct(tenant, input.productId) : null;
    if (input.productId && !product) throw new ApiError(400, 'Product not found');
    if (input.preauthorize && input.status && input.status !== 'UNPAID') {
      throw new ApiError(400, 'Status must be UNPAID when preauthorize is true');
    }
    const fingerprint = fingerprintOf({ caseId, ...input });

    if (input.idempotencyKey) {
      const existing = await repository.findPaymentByIdempotencyKey(input.idempotencyKey);
      if (existing) return this.resumeOrConflict(tenant, repository, existing, fingerprint, actor);
    }

    const saved = input.preauthorize ? await repository.latestSavedMethod(found.patient_id) : null;
    if (input.preauthorize) {
      if (!saved) {
        throw new ApiError(
          400,
          "The case's patient has no saved payment method to preauthorize: create the case with stripeSetupId or nmiPaymentToken first",
        );
      }
    }
    const gateway = saved ? await this.gatewayFor(tenant, saved.gateway) : null;
    if (gateway && input.amountCents < gateway.minimumAmountCents) {
      throw new ApiError(
        400,
        `Amount must be at least ${centsToDecimalString(gateway.minimumAmountCents)} to preauthorize`,
      );
    }

    let row: CasePaymentRow;
    // The payment and its PAYMENT_ADDED case event, in one transaction.
    const insert = (tx: Queryable) =>
      new PaymentRepository(tx, tenant).insertPayment({
        id: randomUUID(),
        caseId,
        productId: input.productId,
        productBundleId: product?.product_bundle_id ?? null,
        description: input.description,
        amountCents: input.amountCents,
        originalAmountCents: null,
        discountCents: 0,
        promoCodeId: null,
        status: input.status ?? 'UNPAID',
        source: 'api',
        gateway: gateway?.name ?? null,
        gatewayReference: null,
        holdStatus: input.preauthorize ? 'PENDING' : 'NONE',
        amountCapturedCents: 0,
        captureBefore: null,
        capturedAt: null,
        failureMessage: null,
        idempotencyKey: input.idempotencyKey,
        requestFingerprint: fingerprint,
        savedMethodId: saved?.id ?? null,
      });
    try {
      row = await this.db.transaction(async (tx) => {
        const inserted = await insert(tx);
        await recordCaseEvent(tx, {
          organizationId: tenant.organizationId,
          caseId,
          actor,
          type: 'case.payment_added',
          before: null,
          after: {
            paymentId: inserted.id,
            status: inserted.status,
            holdStatus: inserted.hold_status,
            amountCents: inserted.amount_cents,
            source: inserted.source,
          },
          subject: { paymentId: inserted.id },
        });
        return inserted;
      });
    } catch (error) {
      if (isUniqueViolation(error, CASE_PAYMENT_IDEMPOTENCY_INDEX)) throw new IdempotencyConflictError();
      throw error;
    }
    if (!input.preauthorize || !gateway || !saved) return row;
    return this.placeHold(tenant, row, gateway, saved, actor);
  }

  private async resumeOrConflict(
    tenant: Tenant,
    repository: PaymentRepository,
    existing: CasePaymentRow,
    fingerprint: string,
    actor: CaseEventActor,
  ): Promise<CasePaymentRow> {
    if (
      existing.hold_status !== 'PENDING' ||
      existing.request_fingerprint !== fingerprint ||
      existing.gateway_reference
    ) {
      throw new IdempotencyConflictError();
    }
    const found = await repository.findCase(existing.case_id);
    // The method the first attempt used (its gateway key names that hold), not one saved since. Rows
    // written before saved_method_id existed fall back to the latest method saved by the row's creation.
    const saved = existing.saved_method_id
      ? await repository.savedMethod(existing.saved_method_id)
      : found
        ? await repository.latestSavedMethod(found.patient_id, existing.created_at)
        : null;
    if (!saved || !existing.gateway || saved.gateway !== existing.gateway) throw new IdempotencyConflictError();
    // Sent again, the hold could be placed twice.
    if (!keyStillReplayed(existing.gateway, existing.created_at)) throw new IdempotencyConflictError(HOLD_KEY_OUTLIVED);
    return this.placeHold(tenant, existing, await this.gatewayFor(tenant, existing.gateway), saved, actor, true);
  }

  /** Places the hold, then records its outcome with its case event (held, paid, or failed) in one transaction. */
  private async placeHold(
    tenant: Tenant,
    row: CasePaymentRow,
    gateway: PaymentGateway,
    saved: NonNullable<Awaited<ReturnType<PaymentRepository['latestSavedMethod']>>>,
    actor: CaseEventActor,
    resume = false,
  ): Promise<CasePaymentRow> {
    const record = (changes: PaymentChanges) => this.change(tenant, row, changes, actor);
    let result: PaymentResult;
    try {
      result = await gateway.authorize({
        idempotencyKey: gatewayKey('case-payment', row.id, 'hold'),
        amountCents: row.amount_cents,
        currency: row.currency,
        captureLater: true,
        source: { savedMethod: saved },
        description: row.description,
        metadata: { care360_organization_id: row.organization_id, care360_case_payment_id: row.id },
        // A retry of a hold left pending: on NMI (no idempotency key) the orderid is looked up first.
        resume,
      });
    } catch (error) {
      if (error instanceof GatewayUnavailableError) {
        // The record stays PENDING: a retry with the same idempotencyKey, or the webhook, settles it.
        throw new ApiError(
          503,
          'The payment provider is unavailable; the hold is pending. Retry with the same idempotencyKey',
        );
      }
      const message = error instanceof Error ? error.message : 'unknown error';
      await record({
        hold_status: 'FAILED',
        status: 'ERROR',
        failure_message: message.slice(0, 500),
      });
      throw gatewayError(error);
    }
    if (result.status === 'failed') {
      await record({
        hold_status: 'FAILED',
        status: 'ERROR',
        gateway_reference: result.id || null,
        failure_message: result.failureMessage,
      });
      throw new ApiError(402, `Payment authorization was declined: ${result.failureMessage ?? 'declined'}`);
    }
    return record({
      gateway_reference: result.id,
      hold_status: result.status === 'authorized' ? 'HELD' : result.status === 'succeeded' ? 'CAPTURED' : 'PENDING',
      status: result.status === 'succeeded' ? 'PAID' : 'UNPAID',
      amount_captured_cents: result.amountReceivedCents,
      capture_before: result.captureBefore,
    });
  }

  /**
   * POST .../payments/:paymentId/capture: all of a hold, or part (the rest is released). Repeats answer the same.
   * The hold is claimed first (claimHold): a concurrent capture of another amount, or a release, answers 409
   * with the state it found, and the row ends as the gateway does.
   */
  async capture(
    tenant: Tenant,
    caseId: string,
    paymentId: string,
    amountCents: number | undefined,
    actor: CaseEventActor,
  ): Promise<CasePaymentRow> {
    const repository = new PaymentRepository(this.db, tenant);
    const row = await requirePayment(repository, caseId, paymentId);
    if (row.hold_status === 'CAPTURED' && (amountCents === undefined || amountCents === row.amount_captured_cents)) {
      return row;
    }
    if (row.hold_status !== 'HELD' || !row.gateway || !row.gateway_reference) throw refusal('captured', row);
    if (amountCents !== undefined && amountCents > row.amount_cents) {
      throw new ApiError(400, `Amount must not exceed the held amount (${centsToDecimalString(row.amount_cents)})`);
    }
    const gateway = await this.gatewayFor(tenant, row.gateway);
    if (amountCents !== undefined && amountCents < gateway.minimumAmountCents) {
      throw new ApiError(400, `Amount must be at least ${centsToDecimalString(gateway.minimumAmountCents)} to capture`);
    }
    const cents = amountCents ?? row.amount_cents;
    // Captured as asked, by a twin request or this one's earlier attempt: answered the same.
    const asAsked = (found: CasePaymentRow) =>
      found.hold_status === 'CAPTURED' && found.amount_captured_cents === cents;
    const claimed = await claim(repository, row, 'capture', cents);
    if (!claimed.ok) {
      if (asAsked(claimed.found)) return claimed.found;
      throw refusal('captured', claimed.found);
    }
    let result: PaymentResult;
    try {
      result = await gateway.capture({
        idempotencyKey: gatewayKey('case-payment', row.id, 'capture'),
        reference: row.gateway_reference,
        amountCents: cents < row.amount_cents ? cents : undefined,
      });
    } catch (error) {
      if (!(error instanceof GatewayRequestError)) throw gatewayError(error); // unknown: the claim stays for a retry
      const found = await this.settleFromGateway(tenant, claimed.row, gateway, actor);
      if (asAsked(found)) return found;
      throw refusal('captured', found, error.message);
    }
    return this.finish(tenant, claimed.row, actor, {
      hold_status: 'CAPTURED',
      status: 'PAID',
      amount_captured_cents: result.amountReceivedCents || cents,
      captured_at: new Date(),
    });
  }

  /** POST .../payments/:paymentId/cancel: releases a hold, or cancels an unpaid record that has none. */
  async release(tenant: Tenant, caseId: string, paymentId: string, actor: CaseEventActor): Promise<CasePaymentRow> {
    const repository = new PaymentRepository(this.db, tenant);
    const row = await requirePayment(repository, caseId, paymentId);
    if (row.hold_status === 'RELEASED' || (row.hold_status === 'NONE' && row.status === 'CANCELED')) return row;
    if (row.hold_status === 'NONE') {
      const canceled = await this.db.transaction((tx) =>
        changePayment(tx, tenant, {
          payment: row,
          expected: { hold_status: 'NONE', status: 'UNPAID' },
          changes: { status: 'CANCELED', released_at: new Date() },
          actor,
        }),
      );
      if (canceled) return canceled.after;
      // Changed meanwhile (canceled by a twin request, or paid): answered as found.
      const found = await requirePayment(repository, caseId, paymentId);
      if (found.status === 'CANCELED') return found;
      throw new ApiError(409, `Payment cannot be canceled: it is ${found.status} (holdStatus ${found.hold_status})`);
    }
    if (row.hold_status !== 'HELD' || !row.gateway || !row.gateway_reference) throw refusal('canceled', row);
    const gateway = await this.gatewayFor(tenant, row.gateway);
    const claimed = await claim(repository, row, 'release', null);
    if (!claimed.ok) {
      if (claimed.found.hold_status === 'RELEASED') return claimed.found;
      throw refusal('canceled', claimed.found);
    }
    try {
      await gateway.cancel({
        idempotencyKey: gatewayKey('case-payment', row.id, 'release'),
        reference: row.gateway_reference,
      });
    } catch (error) {
      if (!(error instanceof GatewayRequestError)) throw gatewayError(error); // unknown: the claim stays for a retry
      const found = await this.settleFromGateway(tenant, claimed.row, gateway, actor);
      if (found.hold_status === 'RELEASED') return found;
      throw refusal('canceled', found, error.message);
    }
    return this.finish(tenant, claimed.row, actor, {
      hold_status: 'RELEASED',
      status: 'CANCELED',
      released_at: new Date(),
    });
  }

  /** Records a change and its case event in one transaction (the payment as it is then when none is made). */
  private async change(
    tenant: Tenant,
    row: CasePaymentRow,
    changes: PaymentChanges,
    actor: CaseEventActor,
    expected?: Pick<CasePaymentRow, 'hold_operation' | 'hold_operation_cents'>,
  ): Promise<CasePaymentRow> {
    const changed = await this.db.transaction((tx) =>
      changePayment(tx, tenant, { payment: row, expected, changes, actor }),
    );
    return changed?.after ?? requirePayment(new PaymentRepository(this.db, tenant), row.case_id, row.id);
  }

  /**
   * Records the outcome of a claimed operation with its case event, and ends the claim. A twin request may have
   * recorded it first: then nothing is written, and the payment is answered as found.
   */
  private finish(
    tenant: Tenant,
    claimed: CasePaymentRow,
    actor: CaseEventActor,
    changes: PaymentChanges,
  ): Promise<CasePaymentRow> {
    return this.change(tenant, claimed, { ...changes, hold_operation: null, hold_operation_cents: null }, actor, {
      hold_operation: claimed.hold_operation,
      hold_operation_cents: claimed.hold_operation_cents,
    });
  }

  /**
   * The gateway refused a claimed operation: records what it says became of the hold (captured by a twin
   * request or by another way, released, or still held). A hold still held keeps the claim: a twin request may
   * still be at work on it; the same operation may be retried, and another waits until the claim lapses.
   */
  private async settleFromGateway(
    tenant: Tenant,
    claimed: CasePaymentRow,
    gateway: PaymentGateway,
    actor: CaseEventActor,
  ): Promise<CasePaymentRow> {
    let found: PaymentResult | null;
    try {
      found = await gateway.retrievePayment(claimed.gateway_reference!);
    } catch (error) {
      throw gatewayError(error);
    }
    if (found?.status === 'succeeded') {
      return this.finish(tenant, claimed, actor, {
        hold_status: 'CAPTURED',
        status: 'PAID',
        amount_captured_cents: found.amountReceivedCents,
        captured_at: new Date(),
      });
    }
    if (found?.status === 'canceled') {
      return this.finish(tenant, claimed, actor, {
        hold_status: 'RELEASED',
        status: 'CANCELED',
        released_at: new Date(),
      });
    }
    return requirePayment(new PaymentRepository(this.db, tenant), claimed.case_id, claimed.id);
  }

  async getPayment(tenant: Tenant, caseId: string, paymentId: string): Promise<CasePaymentRow> {
    return requirePayment(new PaymentRepository(this.db, tenant), caseId, paymentId);
  }

  /**
   * `care360 payments settle-hold --never-placed`: a Stripe hold left PENDING whose key Stripe no longer replays
   * (its retries answer HOLD_KEY_OUTLIVED), and for which the operator found no PaymentIntent at Stripe, so no
   * webhook will ever settle it: recorded FAILED (payment ERROR) with its case event. Once its key is outlived no
   * retry sends it again; a webhook or a retry that recorded the hold first wins.
   */
  async settleHoldNeverPlaced(tenant: Tenant, paymentId: string, actor: CaseEventActor): Promise<CasePaymentRow> {
    const row = isUuid(paymentId) ? await new PaymentRepository(this.db, tenant).findPaymentById(paymentId) : null;
    if (!row) throw new ApiError(404, 'Payment not found');
    if (!holdLeftToOperator(row)) {
      throw new ApiError(
        409,
        'Only a Stripe hold still PENDING a day after it was requested is settled by an operator; this payment is ' +
          `${row.gateway ?? 'not on a gateway'}, hold ${row.hold_status}`,
      );
    }
    const changed = await this.db.transaction((tx) =>
      changePayment(tx, tenant, {
        payment: row,
        expected: { hold_status: 'PENDING', gateway_reference: null },
        changes: {
          hold_status: 'FAILED',
          status: 'ERROR',
          failure_message: 'The hold was never placed: an operator found no PaymentIntent for it at Stripe',
        },
        actor,
        detail: { settledBy: 'operator' },
      }),
    );
    if (!changed) throw new ApiError(409, 'The hold was settled meanwhile; nothing changed');
    return changed.after;
  }

  /** Stripe holds still PENDING once their key is outlived: what `payments settle-hold` settles (the oldest 500). */
  async holdsLeftToOperator(): Promise<CasePaymentRow[]> {
    const pending = await new PaymentsAcrossOrganizations(this.db).listStalePendingHolds('stripe', 0);
    return pending.filter(holdLeftToOperator);
  }

  /** Holds still open, soonest expiry first; `withinHours` keeps those expiring within that many hours. */
  listHolds(withinHours: number | null): Promise<CasePaymentRow[]> {
    return new PaymentsAcrossOrganizations(this.db).listHolds(withinHours);
  }

  /**
   * Intake charges (nmiPaymentToken sales) whose case was never written, older than `olderThanMinutes`
   * (younger ones may still be reused by a retried intake). With `refund`, each is refunded in full
   * (idempotency key from its record) and marked `refunded`.
   */
  async orphanCharges(
    olderThanMinutes: number,
    refund: boolean,
  ): Promise<
    {
      recordId: string;
      organizationId: string;
      gateway: string;
      reference: string | null;
      amountCents: number | null;
      outcome: string;
    }[]
  > {
    const repository = new PaymentsAcrossOrganizations(this.db);
    const orphans = await repository.listOrphanCharges(olderThanMinutes);
    const report = [];
    for (const orphan of orphans) {
      let outcome = 'found';
      // Claimed first: a retried intake may be taking this charge right now.
      if (refund && orphan.gateway_intent_id && !(await repository.claimIntent(orphan.id, ORPHAN_REFUND_CLAIM_MS))) {
        outcome = 'in use by an intake';
      } else if (refund && orphan.gateway_intent_id) {
        try {
          await (
            await this.gatewayFor(
              Tenant.forOperator(orphan.organization_id, 'an orphaned intake charge names its organization'),
              orphan.gateway,
            )
          ).refund({
            idempotencyKey: gatewayKey('intake-charge', orphan.id, 'refund'),
            reference: orphan.gateway_intent_id,
            // An earlier pass's refund, or the failed intake's own, may have been made with its answer lost: NMI
            // has no idempotency key, so the refund is looked up by its orderid before it is sent.
            resume: true,
          });
          // No retried intake may take a refunded charge.
          await repository.closeIntent(orphan.id, 'refunded');
          outcome = 'refunded';
        } catch (error) {
          await repository.releaseIntent(orphan.id);
          outcome = `refund failed: ${error instanceof Error ? error.message : String(error)}`;
        }
      }
      report.push({
        recordId: orphan.id,
        organizationId: orphan.organization_id,
        gateway: orphan.gateway,
        reference: orphan.gateway_intent_id,
        amountCents: orphan.amount_cents,
        outcome,
      });
    }
    return report;
  }

  /** The gateway of this name that serves the organization (its own account, or the server's). */
  async gatewayFor(tenant: Tenant, name: string): Promise<PaymentGateway> {
    const gateway = (await this.gateways.forOrganization(tenant.organizationId)).byName[name as PaymentGateway['name']];
    // 503 on every route that may ask (their 409 is another shape): the operator must configure it.
    if (!gateway)
      throw new ApiError(503, `The ${name} gateway that holds this payment is not configured on this server`);
    return gateway;
  }
}

async function requirePayment(
  repository: PaymentRepository,
  caseId: string,
  paymentId: string,
): Promise<CasePaymentRow> {
  if (!(await repository.findCase(caseId))) throw new ApiError(404, 'Case not found');
  const row = await repository.findPayment(caseId, paymentId);
  if (!row) throw new ApiError(404, 'Payment not found');
  return row;
}

/** Claims a held payment for one operation; else the payment as found. */
async function claim(
  repository: PaymentRepository,
  row: CasePaymentRow,
  operation: HoldOperation,
  cents: number | null,
): Promise<{ ok: true; row: CasePaymentRow } | { ok: false; found: CasePaymentRow }> {
  const claimed = await repository.claimHold(row.id, operation, cents, HOLD_OPERATION_CLAIM_MS);
  if (claimed) return { ok: true, row: claimed };
  return { ok: false, found: await requirePayment(repository, row.case_id, row.id) };
}

/** The 409 of a capture or release that the hold's state refuses: why, and the holdStatus it found. */
function refusal(action: 'captured' | 'canceled', row: CasePaymentRow, reason = describeHold(row)): ApiError {
  return new ApiError(409, `Payment cannot be ${action}: ${reason} (holdStatus ${row.hold_status})`);
}

function describeHold(row: CasePaymentRow): string {
  switch (row.hold_status) {
    case 'NONE':
      return 'it was not preauthorized';
    case 'PENDING':
      return 'the authorization is still pending';
    case 'FAILED':
      return 'the authorization failed';
    case 'RELEASED':
      return 'the hold was released';
    case 'CAPTURED':
      return `${centsToDecimalString(row.amount_captured_cents)} of it was captured`;
    case 'HELD':
      if (row.hold_operation === 'capture') {
        return `a capture of ${centsToDecimalString(row.hold_operation_cents ?? row.amount_cents)} is in progress`;
      }
      return row.hold_operation === 'release' ? 'its release is in progress' : 'it is held';
  }
}

function cleanMetadata(metadata: PaymentMetadata): Record<string, string> {
  const result: Record<string, string> = {};
  if (metadata.email) result.email = metadata.email;
  if (metadata.phone) result.phone = metadata.phone;
  return result;
}

/** A request's parameters as a hash, to tell a retry from another request with the same idempotency key. */
export function fingerprintOf(value: object): string {
  const ordered = Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)));
  return createHash('sha256').update(JSON.stringify(ordered)).digest('hex');
}
