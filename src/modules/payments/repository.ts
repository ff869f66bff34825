import type { Queryable } from '../../db/database.ts';
import type { Tenant } from '../../http/gate.ts';
import type { GatewayName, SavedPaymentMethod } from './gateways/types.ts';

export type PaymentStatus = 'PAID' | 'UNPAID' | 'CANCELED' | 'IN_DISPUTE' | 'LOST_DISPUTE' | 'REFUND' | 'ERROR';
export const PAYMENT_STATUSES: readonly PaymentStatus[] = [
  'PAID',
  'UNPAID',
  'CANCELED',
  'IN_DISPUTE',
  'LOST_DISPUTE',
  'REFUND',
  'ERROR',
];
export type HoldStatus = 'NONE' | 'PENDING' | 'HELD' | 'CAPTURED' | 'RELEASED' | 'FAILED';
export type HoldOperation = 'capture' | 'release';

export interface CasePaymentRow {
  id: string;
  organization_id: string;
  case_id: string;
  product_id: string | null;
  product_bundle_id: string | null;
  description: string | null;
  amount_cents: number;
  original_amount_cents: number | null;
  discount_cents: number;
  promo_code_id: string | null;
  currency: string;
  status: PaymentStatus;
  source: string;
  gateway: GatewayName | null;
  gateway_reference: string | null;
  hold_status: HoldStatus;
  amount_captured_cents: number;
  amount_refunded_cents: number;
  capture_before: Date | null;
  captured_at: Date | null;
  released_at: Date | null;
  failure_message: string | null;
  idempotency_key: string | null;
  request_fingerprint: string | null;
  /** The saved method a hold was placed with (null for records without a hold, and older rows). */
  saved_method_id: string | null;
  /** A capture or release of the hold in flight (claimHold), the amount a capture takes, and until when. */
  hold_operation: HoldOperation | null;
  hold_operation_cents: number | null;
  created_at: Date;
  updated_at: Date;
}

export interface GatewayIntentRow {
  id: string;
  organization_id: string;
  gateway: GatewayName;
  kind: 'setup' | 'payment';
  gateway_intent_id: string | null;
  amount_cents: number | null;
  status: string;
  customer_id: string | null;
  payment_method_id: string | null;
  request_key: string | null;
  request_fingerprint: string | null;
  reserved_promo_code_ids: string[] | null;
  result: Record<string, unknown> | null;
  case_id: string | null;
}

const paymentColumns = `id, organization_id, case_id, product_id, product_bundle_id, description, amount_cents,
  original_amount_cents, discount_cents, promo_code_id, currency, status, source, gateway, gateway_reference,
  hold_status, amount_captured_cents, amount_refunded_cents, capture_before, captured_at, released_at,
  failure_message, idempotency_key, request_fingerprint, saved_method_id, hold_operation, hold_operation_cents,
  created_at, updated_at`;
const intentColumns = `id, organization_id, gateway, kind, gateway_intent_id, amount_cents, status, customer_id,
  payment_method_id, request_key, request_fingerprint, reserved_promo_code_ids, result, case_id`;

export const CASE_PAYMENT_IDEMPOTENCY_INDEX = 'case_payments_organization_idempotency_key_unique';
/** One gateway payment (PaymentIntent, NMI transaction) is recorded by at most one case payment. */
export const CASE_PAYMENT_REFERENCE_INDEX = 'case_payments_gateway_reference_unique';
export const INTENT_REQUEST_KEY_INDEX = 'gateway_intents_organization_request_key_unique';

export interface NewCasePayment {
  id: string;
  caseId: string;
  productId: string | null;
  productBundleId: string | null;
  description: string | null;
  amountCents: number;
  originalAmountCents: number | null;
  discountCents: number;
  promoCodeId: string | null;
  status: PaymentStatus;
  source: 'api' | 'intake' | 'confirmation';
  gateway: GatewayName | null;
  gatewayReference: string | null;
  holdStatus: HoldStatus;
  amountCapturedCents: number;
  captureBefore: Date | null;
  capturedAt: Date | null;
  failureMessage: string | null;
  idempotencyKey: string | null;
  requestFingerprint: string | null;
  savedMethodId?: string | null;
}

/** The columns of a payment that its updates write. */
export type PaymentChanges = Partial<{
  status: PaymentStatus;
  hold_status: HoldStatus;
  gateway_reference: string | null;
  amount_captured_cents: number;
  amount_refunded_cents: number;
  capture_before: Date | null;
  captured_at: Date | null;
  released_at: Date | null;
  failure_message: string | null;
  hold_operation: HoldOperation | null;
  hold_operation_cents: number | null;
  gateway: GatewayName | null;
  saved_method_id: string | null;
}>;

/** A saved payment method with its record id. */
export type SavedMethodRecord = SavedPaymentMethod & { id: string };

/**
 * Case payments, gateway intents and saved payment methods of one organization: built with the caller's Tenant,
 * every statement adds the organization's condition itself.
 */
export class PaymentRepository {
  private readonly organizationId: string;

  constructor(
    private readonly db: Queryable,
    tenant: Tenant,
  ) {
    this.organizationId = tenant.organizationId;
  }

  async findCase(caseId: string): Promise<{ id: string; patient_id: string } | null> {
    const { rows } = await this.db.query<{ id: string; patient_id: string }>(
      'select id, patient_id from cases where organization_id = $1 and id = $2',
      [this.organizationId, caseId],
    );
    return rows[0] ?? null;
  }

  /**
   * Throws a unique violation on CASE_PAYMENT_IDEMPOTENCY_INDEX when the key is taken, and on
   * CASE_PAYMENT_REFERENCE_INDEX when another payment records the same gateway payment.
   */
  async insertPayment(payment: NewCasePayment): Promise<CasePaymentRow> {
    const { rows } = await this.db.query<CasePaymentRow>(
      `insert into case_payments (id, organization_id, case_id, product_id, product_bundle_id, description,
         amount_cents, original_amount_cents, discount_cents, promo_code_id, status, source, gateway,
         gateway_reference, hold_status, amount_captured_cents, capture_before, captured_at, failure_message,
         idempotency_key, request_fingerprint, saved_method_id)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
       returning ${paymentColumns}`,
      [
        payment.id,
        this.organizationId,
        payment.caseId,
        payment.productId,
        payment.productBundleId,
        payment.description,
        payment.amountCents,
        payment.originalAmountCents,
        payment.discountCents,
        payment.promoCodeId,
        payment.status,
        payment.source,
        payment.gateway,
        payment.gatewayReference,
        payment.holdStatus,
        payment.amountCapturedCents,
        payment.captureBefore,
        payment.capturedAt,
        payment.failureMessage,
        payment.idempotencyKey,
        payment.requestFingerprint,
        payment.savedMethodId ?? null,
      ],
    );
    return rows[0]!;
  }

  async findPayment(caseId: string, paymentId: string): Promise<CasePaymentRow | null> {
    const { rows } = await this.db.query<CasePaymentRow>(
      `select ${paymentColumns} from case_payments where organization_id = $1 and case_id = $2 and id = $3`,
      [this.organizationId, caseId, paymentId],
    );
    return rows[0] ?? null;
  }

  /** The payment by its id alone, for an operator command that names no case. */
  async findPaymentById(paymentId: string): Promise<CasePaymentRow | null> {
    const { rows } = await this.db.query<CasePaymentRow>(
      `select ${paymentColumns} from case_payments where organization_id = $1 and id = $2`,
      [this.organizationId, paymentId],
    );
    return rows[0] ?? null;
  }

  /**
   * The payment, locked for update in the caller's transaction. Under read committed a lock that waited for another
   * transaction returns the row as that transaction left it, so the caller sees the change it queued behind.
   */
  async lockPayment(caseId: string, paymentId: string): Promise<CasePaymentRow | null> {
    const { rows } = await this.db.query<CasePaymentRow>(
      `select ${paymentColumns} from case_payments where organization_id = $1 and case_id = $2 and id = $3 for update`,
      [this.organizationId, caseId, paymentId],
    );
    return rows[0] ?? null;
  }

  async findPaymentByIdempotencyKey(idempotencyKey: string): Promise<CasePaymentRow | null> {
    const { rows } = await this.db.query<CasePaymentRow>(
      `select ${paymentColumns} from case_payments where organization_id = $1 and idempotency_key = $2`,
      [this.organizationId, idempotencyKey],
    );
    return rows[0] ?? null;
  }

  /** Applies changes to a payment; only the named columns are written. */
  async updatePayment(paymentId: string, changes: PaymentChanges): Promise<CasePaymentRow> {
    return (await this.updatePaymentWhere(paymentId, {}, changes))!;
  }

  /** Applies changes to a payment still as `expected` (columns equal, nulls included); null when it is not. */
  async updatePaymentWhere(
    paymentId: string,
    expected: Partial<Pick<CasePaymentRow, 'status' | 'hold_status' | 'hold_operation' | 'hold_operation_cents'>>,
    changes: PaymentChanges,
  ): Promise<CasePaymentRow | null> {
    const names = Object.keys(changes) as (keyof PaymentChanges)[];
    const expectedNames = Object.keys(expected) as (keyof typeof expected)[];
    const assignments = names.map((name, index) => `${name} = $${index + 3}`);
    const conditions = expectedNames.map((name, index) => `${name} is not distinct from $${names.length + index + 3}`);
    const { rows } = await this.db.query<CasePaymentRow>(
      `update case_payments set ${[...assignments, 'updated_at = now()'].join(', ')}
        where ${['organization_id = $1', 'id = $2', ...conditions].join(' and ')} returning ${paymentColumns}`,
      [
        this.organizationId,
        paymentId,
        ...names.map((name) => changes[name]),
        ...expectedNames.map((name) => expected[name]),
      ],
    );
    return rows[0] ?? null;
  }

  /**
   * Claims a HELD payment for one gateway operation, for `claimMs`: returns the row when this request may call
   * the gateway, null when another operation is in flight or the hold is not HELD. The same operation (a retry,
   * or a twin request: the gateway's idempotency key makes them one) may share a claim.
   */
  async claimHold(
    paymentId: string,
    operation: HoldOperation,
    cents: number | null,
    claimMs: number,
  ): Promise<CasePaymentRow | null> {
    const { rows } = await this.db.query<CasePaymentRow>(
      `update case_payments
          set hold_operation = $3, hold_operation_cents = $4,
              hold_operation_until = now() + make_interval(secs => $5::float8 / 1000), updated_at = now()
        where organization_id = $1 and id = $2 and hold_status = 'HELD'
          and (hold_operation is null or hold_operation_until < now()
               or (hold_operation = $3 and hold_operation_cents is not distinct from $4))
        returning ${paymentColumns}`,
      [this.organizationId, paymentId, operation, cents, claimMs],
    );
    return rows[0] ?? null;
  }

  /**
   * With `requestKey` (an intake's charge): the fingerprint of the request it is made for, the promo codes whose
   * use was counted for it, and claimed for `claimMs` by the request that inserts it (claimIntent).
   */
  async insertIntent(intent: {
    id: string;
    gateway: GatewayName;
    kind: 'setup' | 'payment';
    amountCents: number | null;
    requestKey?: string;
    requestFingerprint?: string;
    claimMs?: number;
    reservedPromoCodeIds?: string[];
  }): Promise<void> {
    await this.db.query(
      `insert into gateway_intents (id, organization_id, gateway, kind, amount_cents, request_key,
         request_fingerprint, claimed_until, reserved_promo_code_ids)
       values ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8::float8 / 1000), $9::jsonb)`,
      [
        intent.id,
        this.organizationId,
        intent.gateway,
        intent.kind,
        intent.amountCents,
        intent.requestKey ?? null,
        intent.requestFingerprint ?? null,
        intent.claimMs ?? null,
        intent.reservedPromoCodeIds ? JSON.stringify(intent.reservedPromoCodeIds) : null,
      ],
    );
  }

  /**
   * Claims an intake's charge record for one request, for `claimMs` (then a request cut short by a crash lets go
   * of it), and answers the record as it is once claimed. Null when another request holds it, or when it is no
   * longer open: attached to a case, or closed (voided, refunded, declined).
   */
  claimIntent(id: string, claimMs: number): Promise<GatewayIntentRow | null> {
    return claimIntent(this.db, id, this.organizationId, claimMs);
  }

  releaseIntent(id: string): Promise<void> {
    return releaseIntent(this.db, id, this.organizationId);
  }

  /** See closeIntent below: an intake's charge that no intake will take any longer. */
  closeIntent(id: string, status: string, gatewayIntentId: string | null = null): Promise<void> {
    return closeIntent(this.db, id, this.organizationId, status, gatewayIntentId);
  }

  /**
   * A SetupIntent or PaymentIntent whose creation failed (or whose outcome is unknown: nobody has the client
   * secret of an intent it may have made) is not left `creating`. Never throws: the caller reports its own error.
   */
  async failIntent(id: string): Promise<void> {
    await this.db
      .query(
        `update gateway_intents set status = 'failed', updated_at = now()
          where organization_id = $1 and id = $2 and status = 'creating'`,
        [this.organizationId, id],
      )
      .catch(() => undefined);
  }

  async findIntentByRequestKey(requestKey: string): Promise<GatewayIntentRow | null> {
    const { rows } = await this.db.query<GatewayIntentRow>(
      `select ${intentColumns} from gateway_intents where organization_id = $1 and request_key = $2`,
      [this.organizationId, requestKey],
    );
    return rows[0] ?? null;
  }

  recordIntentResult(id: string, result: IntentResult): Promise<void> {
    return recordIntentResult(this.db, id, this.organizationId, result);
  }

  /** An intent this organization created through our API, by its gateway id; null when unknown or foreign. */
  async findIntent(gateway: GatewayName, gatewayIntentId: string): Promise<GatewayIntentRow | null> {
    const { rows } = await this.db.query<GatewayIntentRow>(
      `select ${intentColumns} from gateway_intents
        where organization_id = $1 and gateway = $2 and gateway_intent_id = $3`,
      [this.organizationId, gateway, gatewayIntentId],
    );
    return rows[0] ?? null;
  }

  /** The charge now belongs to its case (in the intake's transaction), and no request holds it any longer. */
  async attachIntent(id: string, caseId: string): Promise<void> {
    await this.db.query(
      `update gateway_intents set case_id = $3, attached_at = now(), claimed_until = null, updated_at = now()
        where organization_id = $1 and id = $2`,
      [this.organizationId, id, caseId],
    );
  }

  async saveMethod(method: {
    id: string;
    patientId: string;
    saved: SavedPaymentMethod;
    sourceReference: string | null;
  }): Promise<void> {
    await this.db.query(
      `insert into patient_payment_methods (id, organization_id, patient_id, gateway, customer_id, payment_method_id,
         source_reference)
       values ($1, $2, $3, $4, $5, $6, $7)`,
      [
        method.id,
        this.organizationId,
        method.patientId,
        method.saved.gateway,
        method.saved.customerId,
        method.saved.paymentMethodId,
        method.sourceReference,
      ],
    );
  }

  /** The patient's latest saved method; with `asOf`, the latest saved by then (for rows without saved_method_id). */
  async latestSavedMethod(patientId: string, asOf?: Date): Promise<SavedMethodRecord | null> {
    const { rows } = await this.db.query<{
      id: string;
      gateway: GatewayName;
      customer_id: string | null;
      payment_method_id: string | null;
    }>(
      `select id, gateway, customer_id, payment_method_id from patient_payment_methods
        where organization_id = $1 and patient_id = $2 and ($3::timestamptz is null or created_at <= $3)
        order by created_at desc, id limit 1`,
      [this.organizationId, patientId, asOf ?? null],
    );
    const row = rows[0];
    return row
      ? { id: row.id, gateway: row.gateway, customerId: row.customer_id, paymentMethodId: row.payment_method_id }
      : null;
  }

  /** One saved method by its record id. */
  async savedMethod(id: string): Promise<SavedMethodRecord | null> {
    const { rows } = await this.db.query<{
      id: string;
      gateway: GatewayName;
      customer_id: string | null;
      payment_method_id: string | null;
    }>(
      `select id, gateway, customer_id, payment_method_id from patient_payment_methods
        where organization_id = $1 and id = $2`,
      [this.organizationId, id],
    );
    const row = rows[0];
    return row
      ? { id: row.id, gateway: row.gateway, customerId: row.customer_id, paymentMethodId: row.payment_method_id }
      : null;
  }
}

/**
 * The statements that act across organizations, for the paths that start from no caller: the Stripe webhook
 * (an event names a gateway object, not an organization), the orphan-charge and hold jobs of the operator, the NMI
 * sweep.
 * Anything else goes through the Tenant's PaymentRepository.
 */
export class PaymentsAcrossOrganizations {
  constructor(private readonly db: Queryable) {}

  /** An intent by gateway id, whichever organization's. */
  async findIntentAnyOrganization(gateway: GatewayName, gatewayIntentId: string): Promise<GatewayIntentRow | null> {
    const { rows } = await this.db.query<GatewayIntentRow>(
      `select ${intentColumns} from gateway_intents where gateway = $1 and gateway_intent_id = $2`,
      [gateway, gatewayIntentId],
    );
    return rows[0] ?? null;
  }

  /** The payment a gateway object belongs to, whichever organization's. Locked for update. */
  async findPaymentForGateway(
    gateway: GatewayName,
    reference: string,
    paymentId: string | null,
  ): Promise<CasePaymentRow | null> {
    const { rows } = await this.db.query<CasePaymentRow>(
      `select ${paymentColumns} from case_payments
        where (gateway = $1 and gateway_reference = $2) or id = $3
        order by created_at limit 1 for update`,
      [gateway, reference, paymentId],
    );
    return rows[0] ?? null;
  }

  /** Whether any case payment records this gateway payment: one gateway payment is recorded once, anywhere. */
  async paymentReferenceUsed(gateway: GatewayName, reference: string): Promise<boolean> {
    const { rows } = await this.db.query('select 1 from case_payments where gateway = $1 and gateway_reference = $2', [
      gateway,
      reference,
    ]);
    return rows.length > 0;
  }

  async listHolds(withinHours: number | null): Promise<CasePaymentRow[]> {
    const { rows } = await this.db.query<CasePaymentRow>(
      `select ${paymentColumns} from case_payments
        where hold_status = 'HELD' and ($1::int is null or capture_before < now() + make_interval(hours => $1::int))
        order by capture_before nulls last, created_at`,
      [withinHours],
    );
    return rows;
  }

  /** Holds of this gateway still PENDING (their creation's outcome unknown) and older than `olderThanMinutes`. */
  async listStalePendingHolds(gateway: GatewayName, olderThanMinutes: number): Promise<CasePaymentRow[]> {
    const { rows } = await this.db.query<CasePaymentRow>(
      `select ${paymentColumns} from case_payments
        where hold_status = 'PENDING' and gateway = $1 and gateway_reference is null
          and created_at < now() - make_interval(mins => $2::int)
        order by created_at limit 500`,
      [gateway, olderThanMinutes],
    );
    return rows;
  }

  /** Intake charges that were approved but never got their case (the intake transaction failed after the charge). */
  async listOrphanCharges(olderThanMinutes: number): Promise<GatewayIntentRow[]> {
    const { rows } = await this.db.query<GatewayIntentRow>(
      `select ${intentColumns} from gateway_intents
        where kind = 'payment' and request_key is not null and case_id is null and status = 'succeeded'
          and created_at < now() - make_interval(mins => $1::int)
        order by created_at`,
      [olderThanMinutes],
    );
    return rows;
  }

  /** Claims an orphan charge by its record id: see PaymentRepository.claimIntent. */
  claimIntent(id: string, claimMs: number): Promise<GatewayIntentRow | null> {
    return claimIntent(this.db, id, null, claimMs);
  }

  releaseIntent(id: string): Promise<void> {
    return releaseIntent(this.db, id, null);
  }

  closeIntent(id: string, status: string, gatewayIntentId: string | null = null): Promise<void> {
    return closeIntent(this.db, id, null, status, gatewayIntentId);
  }

  /** False when the event was seen before (deduplication by Stripe event id). */
  async recordWebhookEvent(event: {
    id: string;
    type: string;
    casePaymentId: string | null;
    outcome: string;
  }): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `insert into stripe_webhook_events (event_id, type, case_payment_id, outcome) values ($1, $2, $3, $4)
       on conflict (event_id) do nothing`,
      [event.id, event.type, event.casePaymentId, event.outcome],
    );
    return rowCount > 0;
  }

  async recordWebhookOutcome(eventId: string, outcome: string, casePaymentId: string | null): Promise<void> {
    await this.db.query('update stripe_webhook_events set outcome = $2, case_payment_id = $3 where event_id = $1', [
      eventId,
      outcome,
      casePaymentId,
    ]);
  }
}

export interface IntentResult {
  gatewayIntentId: string | null;
  status: string;
  customerId?: string | null;
  paymentMethodId?: string | null;
  result?: Record<string, unknown>;
}

// The statements on one intent by id that both repositories run: `organizationId` null only for
// PaymentsAcrossOrganizations.

/**
 * The open-record test is in the claim itself, not in the caller's earlier read: that read may predate the
 * commit that attached the charge to its case (PostgreSQL re-checks these conditions on the row a waiting update
 * gets), and a caller acting on it would void or refund the money of a written case.
 */
async function claimIntent(
  db: Queryable,
  id: string,
  organizationId: string | null,
  claimMs: number,
): Promise<GatewayIntentRow | null> {
  const { rows } = await db.query<GatewayIntentRow>(
    `update gateway_intents set claimed_until = now() + make_interval(secs => $3::float8 / 1000)
      where id = $1 and ($2::uuid is null or organization_id = $2) and request_key is not null and case_id is null
        and (claimed_until is null or claimed_until < now())
      returning ${intentColumns}`,
    [id, organizationId, claimMs],
  );
  return rows[0] ?? null;
}

async function releaseIntent(db: Queryable, id: string, organizationId: string | null): Promise<void> {
  await db.query(
    'update gateway_intents set claimed_until = null where id = $1 and ($2::uuid is null or organization_id = $2)',
    [id, organizationId],
  );
}

/**
 * An intake's charge that no intake will take any longer (declined, or voided or refunded after its intake
 * failed): its request key is free for a new attempt, no request holds it, and the promo code uses reserved
 * for it are given back. One statement: all of it or none.
 */
async function closeIntent(
  db: Queryable,
  id: string,
  organizationId: string | null,
  status: string,
  gatewayIntentId: string | null,
): Promise<void> {
  await db.query(
    `with closed as (
       update gateway_intents intent
          set status = $3, request_key = null, claimed_until = null, reserved_promo_code_ids = null,
              gateway_intent_id = coalesce($4, intent.gateway_intent_id), updated_at = now()
         from gateway_intents before_close
        where intent.id = $1 and ($2::uuid is null or intent.organization_id = $2) and before_close.id = intent.id
       returning before_close.reserved_promo_code_ids as reserved
     )
     update promo_codes set redemption_count = redemption_count - 1
      where redemption_count > 0 and id in (select jsonb_array_elements_text(reserved)::uuid from closed)`,
    [id, organizationId, status, gatewayIntentId],
  );
}

async function recordIntentResult(
  db: Queryable,
  id: string,
  organizationId: string,
  result: IntentResult,
): Promise<void> {
  await db.query(
    `update gateway_intents set gateway_intent_id = coalesce($3, gateway_intent_id), status = $4,
       customer_id = coalesce($5, customer_id), payment_method_id = coalesce($6, payment_method_id),
       result = coalesce($7::jsonb, result), updated_at = now()
     where organization_id = $1 and id = $2`,
    [
      organizationId,
      id,
      result.gatewayIntentId,
      result.status,
      result.customerId ?? null,
      result.paymentMethodId ?? null,
      result.result ? JSON.stringify(result.result) : null,
    ],
  );
}
