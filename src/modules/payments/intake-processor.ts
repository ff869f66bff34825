import { createHash, randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import { ApiError, IdempotencyConflictError } from '../../http/api-error.ts';
import type { Tenant } from '../../http/gate.ts';
import { centsToDecimalString } from '../../money.ts';
import type { IntakePaymentFields, IntakePaymentProcessor } from '../cases/intake/payments.ts';
import type { ProductService } from '../products/service.ts';
import type { PromoCodeRow } from '../promo-codes/repository.ts';
import { discountCents, type PromoCodeService } from '../promo-codes/service.ts';
import { ApprovalChargeQueue } from './approval-charges.ts';
import type { GatewayDirectory } from './credentials.ts';
import {
  GatewayRequestError,
  GatewayUnavailableError,
  type PaymentResult,
  type SavedPaymentMethod,
} from './gateways/types.ts';
import {
  CASE_PAYMENT_REFERENCE_INDEX,
  INTENT_REQUEST_KEY_INDEX,
  PaymentRepository,
  PaymentsAcrossOrganizations,
  type CasePaymentRow,
} from './repository.ts';
import { fingerprintOf, gatewayKey } from './service.ts';

interface Priced {
  amountCents: number | null;
  payableCents: number | null;
  discountCents: number;
  promoCodes: PromoCodeRow[];
  productBundleId: string | null;
  description: string | null;
}

type Prepared =
  | (Priced & { kind: 'none' })
  | (Priced & { kind: 'setup'; setupIntentId: string; saved: SavedPaymentMethod })
  | (Priced & {
      kind: 'payment-intent';
      intentRecordId: string;
      payment: PaymentResult;
      gateway: SavedPaymentMethod['gateway'];
    })
  | (Priced & TokenCharge);

/** What prepare did with an nmiPaymentToken: a sale (none when nothing is payable) and its record. */
interface TokenCharge {
  kind: 'nmi';
  intentRecordId: string | null;
  payment: PaymentResult | null;
  gateway: SavedPaymentMethod['gateway'];
  /** The promo codes' use was counted with the charge's record, before the sale: record does not count it again. */
  promoCodesReserved: boolean;
}

const dollars = (cents: number) => centsToDecimalString(cents);

/** The intake's 400 form: `Validation failed: <field>: <message>`. */
const invalid = (field: string, message: string) => new ApiError(400, `Validation failed: ${field}: ${message}`);

/** Another request with this idempotencyKey works on its charge: the route's documented 409, saying why. */
const inProgress = () =>
  new IdempotencyConflictError('A request with this idempotencyKey is being processed; retry shortly.');

/** The refusal of a gateway payment that another case's payment records. */
const alreadyRecorded = (kind: 'payment-intent' | 'nmi') =>
  kind === 'payment-intent'
    ? invalid('stripePaymentId', 'This PaymentIntent is already recorded for another case')
    : invalid('nmiPaymentToken', 'This charge is already recorded for another case');

/**
 * The payment fields of POST /api/v1/dynamic-case, for real. `prepare` (no transaction open) checks the
 * promo codes and the bundle, verifies a stripeSetupId / stripePaymentId with the gateway, or charges an
 * nmiPaymentToken; any problem is a 4xx and no case is created (a declined card included). `record`
 * (inside the intake transaction) counts promo redemptions, saves the payment method and writes the
 * payment row.
 */
export class IntakePaymentsProcessor implements IntakePaymentProcessor {
  /** How long a request holds an intake's charge: its NMI calls (a look-up, the sale, a void), with room to spare. */
  private readonly claimMs: number;

  constructor(
    private readonly db: Database,
    private readonly gateways: GatewayDirectory,
    private readonly products: ProductService,
    private readonly promoCodes: PromoCodeService,
    options: { nmiTimeoutMs: number },
  ) {
    this.claimMs = 3 * options.nmiTimeoutMs + 15_000;
  }

  async prepare(input: {
    tenant: Tenant;
    idempotencyKey?: string;
    payment: IntakePaymentFields;
    patientEmail: string;
  }): Promise<Prepared | undefined> {
    const { payment } = input;
    const { tenant } = input;
    const given = [payment.stripeSetupId, payment.stripePaymentId, payment.nmiPaymentToken].filter(Boolean);
    if (given.length > 1)
      throw invalid('stripeSetupId', 'Send only one of stripeSetupId, stripePaymentId and nmiPaymentToken');
    const priced = await this.price(input.tenant, payment);

    if (payment.stripeSetupId) return { ...priced, ...(await this.checkSetupIntent(tenant, payment.stripeSetupId)) };
    if (payment.stripePaymentId) {
      return { ...priced, ...(await this.checkPaymentIntent(tenant, payment.stripePaymentId, priced)) };
    }
    if (payment.nmiChargeNow !== undefined && !payment.nmiPaymentToken) {
      throw invalid('nmiChargeNow', 'Only with nmiPaymentToken');
    }
    if (payment.nmiPaymentToken && payment.nmiChargeNow !== true) {
      return { ...priced, ...(await this.saveToken(tenant, payment.nmiPaymentToken)) };
    }
    if (payment.nmiPaymentToken) {
      return {
        ...priced,
        ...(await this.chargeToken(tenant, payment.nmiPaymentToken, priced, {
          idempotencyKey: input.idempotencyKey,
          fingerprint: fingerprintOf(payment),
        })),
      };
    }
    // Without a gateway reference only promo redemptions are left to record; with none, nothing is.
    return priced.promoCodes.length > 0 ? { ...priced, kind: 'none' } : undefined;
  }

  async record(
    tx: Queryable,
    input: { tenant: Tenant; caseId: string; patientId: string; prepared: unknown },
  ): Promise<{ paymentId?: string }> {
    const prepared = input.prepared as Prepared;
    const { caseId, patientId } = input;
    const repository = new PaymentRepository(tx, input.tenant);
    if (!(prepared.kind === 'nmi' && prepared.promoCodesReserved)) {
      // Counted here, so a failed intake uses no redemption; a code used up meanwhile fails the intake.
      const redeemed = await this.promoCodes.redeemAll(tx, prepared.promoCodes);
      if (!redeemed.ok) throw invalid('promoCodes', `'${redeemed.code}' is not a valid promo code`);
    }
    const base = {
      caseId,
      productId: null,
      productBundleId: prepared.productBundleId,
      description: prepared.description,
      originalAmountCents: prepared.amountCents,
      discountCents: prepared.discountCents,
      promoCodeId: prepared.promoCodes[0]?.id ?? null,
      source: 'intake' as const,
      idempotencyKey: null,
      requestFingerprint: null,
      failureMessage: null,
    };

    if (prepared.kind === 'setup') {
      const savedMethodId = randomUUID();
      await repository.saveMethod({
        id: savedMethodId,
        patientId,
        saved: prepared.saved,
        sourceReference: prepared.setupIntentId,
      });
      if (!prepared.payableCents) return {};
      // The amount is owed, to be charged or held later with the saved method.
      const row = await repository.insertPayment({
        ...base,
        id: randomUUID(),
        amountCents: prepared.payableCents,
        status: 'UNPAID',
        gateway: prepared.saved.gateway,
        gatewayReference: null,
        holdStatus: 'NONE',
        amountCapturedCents: 0,
        captureBefore: null,
        capturedAt: null,
        savedMethodId,
      });
      return { paymentId: row.id };
    }

    if (prepared.kind === 'payment-intent' || (prepared.kind === 'nmi' && prepared.payment)) {
      const payment = prepared.payment!;
      const held = payment.status === 'authorized';
      let row: CasePaymentRow;
      try {
        row = await repository.insertPayment({
          ...base,
          id: randomUUID(),
          amountCents: payment.amountCents,
          status: held ? 'UNPAID' : 'PAID',
          gateway: prepared.gateway,
          gatewayReference: payment.id,
          holdStatus: held ? 'HELD' : 'NONE',
          amountCapturedCents: payment.amountReceivedCents,
          captureBefore: payment.captureBefore,
          capturedAt: held ? null : new Date(),
        });
      } catch (error) {
        // Parallel intakes with one PaymentIntent all pass the check in prepare: the index lets one record it.
        if (isUniqueViolation(error, CASE_PAYMENT_REFERENCE_INDEX)) throw alreadyRecorded(prepared.kind);
        throw error;
      }
      if (prepared.intentRecordId) await repository.attachIntent(prepared.intentRecordId, caseId);
      if (payment.saved) {
        await repository.saveMethod({
          id: randomUUID(),
          patientId,
          saved: payment.saved,
          sourceReference: payment.id,
        });
      }
      return { paymentId: row.id };
    }
    return {};
  }

  /**
   * The intake failed after prepare: its sale is voided (refunded once NMI has settled it) and the promo code
   * uses reserved for it are given back, so a refused intake leaves no money taken. What cannot be undone now
   * (NMI unreachable) stays a charge without a case: a retry takes it, or `payments orphans --refund` refunds it.
   */
  async abandon(input: { tenant: Tenant; caseId: string; prepared: unknown }): Promise<void> {
    const prepared = input.prepared as Prepared;
    if (prepared.kind !== 'nmi' || !prepared.intentRecordId || !prepared.payment) return;
    const recordId = prepared.intentRecordId;
    const repository = new PaymentRepository(this.db, input.tenant);
    try {
      // A write that failed only in its answer (a connection lost at commit) did write: the case has the charge.
      if (await repository.findCase(input.caseId)) return;
      const outcome = await this.undoSale(input.tenant, prepared.gateway, recordId, prepared.payment.id);
      await repository.closeIntent(recordId, outcome);
    } catch {
      await repository.releaseIntent(recordId).catch(() => undefined); // else the claim lapses
    }
  }

  /** Voids a sale, or refunds it when NMI no longer voids it (settled); says which. */
  private async undoSale(
    tenant: Tenant,
    gatewayName: string,
    recordId: string,
    reference: string,
  ): Promise<'voided' | 'refunded'> {
    const gateways = await this.gateways.forOrganization(tenant.organizationId);
    const gateway = gateways.byName[gatewayName as SavedPaymentMethod['gateway']]!;
    try {
      await gateway.cancel({ idempotencyKey: gatewayKey('intake-charge', recordId, 'void'), reference });
      return 'voided';
    } catch (error) {
      if (!(error instanceof GatewayRequestError)) throw error; // whether it was voided is unknown
      await gateway.refund({ idempotencyKey: gatewayKey('intake-charge', recordId, 'refund'), reference });
      return 'refunded';
    }
  }

  private async price(tenant: Tenant, payment: IntakePaymentFields): Promise<Priced> {
    const productBundleId = payment.productBundleId?.toLowerCase() ?? null;
    if (productBundleId && !(await this.products.findBundle(tenant, productBundleId))) {
      throw invalid('productBundleId', 'Product bundle not found');
    }
    const promoCodes: PromoCodeRow[] = [];
    let payable = payment.amountCents ?? null;
    for (const code of payment.promoCodes) {
      const evaluated = await this.promoCodes.evaluate(tenant, code, productBundleId ?? undefined);
      if (!evaluated.ok) throw invalid('promoCodes', `'${code}' is not a valid promo code`);
      if (promoCodes.some((row) => row.id === evaluated.row.id)) continue;
      promoCodes.push(evaluated.row);
      if (payable !== null) payable -= discountCents(payable, evaluated.row);
    }
    return {
      amountCents: payment.amountCents ?? null,
      payableCents: payable,
      discountCents: payment.amountCents !== undefined && payable !== null ? payment.amountCents - payable : 0,
      promoCodes,
      productBundleId,
      description: payment.description ?? null,
    };
  }

  /**
   * UPDATE_PAYMENT_INFO (POST /api/v1/users): a confirmed SetupIntent of this organization, or an NMI token saved in
   * the Customer Vault (no money moves), becomes the patient's latest saved method, which later holds and charges
   * (charge on approval included) use; approval charges the old card declined are charged again. Checked with the gateway first, outside any transaction; then the method
   * and `alsoInTransaction` (the shipping address) are written together.
   */
  async replaceSavedMethod(
    tenant: Tenant,
    patientId: string,
    source: { stripeSetupId: string } | { nmiPaymentToken: string },
    alsoInTransaction: (tx: Queryable) => Promise<void>,
  ): Promise<void> {
    const checked =
      'stripeSetupId' in source
        ? await this.checkSetupIntent(tenant, source.stripeSetupId)
        : await this.saveToken(tenant, source.nmiPaymentToken);
    await this.db.transaction(async (tx) => {
      const savedMethodId = randomUUID();
      await new PaymentRepository(tx, tenant).saveMethod({
        id: savedMethodId,
        patientId,
        saved: checked.saved,
        sourceReference: checked.setupIntentId || null,
      });
      // A charge on approval that this patient's old card declined is charged again with the new one, once.
      await new ApprovalChargeQueue(tx).reopenDeclined(tenant, patientId, savedMethodId);
      await alsoInTransaction(tx);
    });
  }

  private async checkSetupIntent(
    tenant: Tenant,
    setupIntentId: string,
  ): Promise<{ kind: 'setup'; setupIntentId: string; saved: SavedPaymentMethod }> {
    const gateway = (await this.gateways.forOrganization(tenant.organizationId)).card;
    const unknown = invalid('stripeSetupId', 'Does not match a SetupIntent created for this organization');
    if (!(await new PaymentRepository(this.db, tenant).findIntent(gateway.name, setupIntentId))) throw unknown;
    const setup = await this.call(() => gateway.retrieveSetupIntent(setupIntentId));
    if (!setup) throw unknown;
    if (setup.status !== 'succeeded' || !setup.paymentMethodId) {
      throw invalid(
        'stripeSetupId',
        `The SetupIntent has not succeeded (status: ${setup.status}); confirm it with Stripe.js first`,
      );
    }
    return {
      kind: 'setup',
      setupIntentId,
      saved: { gateway: gateway.name, customerId: setup.customerId, paymentMethodId: setup.paymentMethodId },
    };
  }

  private async checkPaymentIntent(
    tenant: Tenant,
    paymentIntentId: string,
    priced: Priced,
  ): Promise<{
    kind: 'payment-intent';
    intentRecordId: string;
    payment: PaymentResult;
    gateway: SavedPaymentMethod['gateway'];
    discountCents: number;
  }> {
    const gateway = (await this.gateways.forOrganization(tenant.organizationId)).card;
    const repository = new PaymentRepository(this.db, tenant);
    const unknown = invalid('stripePaymentId', 'Does not match a PaymentIntent created for this organization');
    const record = await repository.findIntent(gateway.name, paymentIntentId);
    if (!record || record.kind !== 'payment') throw unknown;
    if (priced.payableCents === null) throw invalid('paymentAmount', 'Required with stripePaymentId');
    // Answered early here, whichever organization recorded it; the unique index decides between parallel
    // intakes (record).
    if (await new PaymentsAcrossOrganizations(this.db).paymentReferenceUsed(gateway.name, paymentIntentId))
      throw alreadyRecorded('payment-intent');
    const payment = await this.call(() => gateway.retrievePayment(paymentIntentId));
    if (!payment) throw unknown;
    if (payment.status !== 'succeeded' && payment.status !== 'authorized') {
      throw invalid('stripePaymentId', `The PaymentIntent has not succeeded (status: ${payment.status})`);
    }
    // The Case Create page's discount flow: the storefront discounts on its own side, asks for a PaymentIntent
    // of the discounted amount and sends the original paymentAmount with no promo field. The difference is the
    // discount. Promo codes sent with the case are this server's own discount, so they must match exactly.
    if (priced.promoCodes.length > 0 && payment.amountCents !== priced.payableCents) {
      throw invalid(
        'paymentAmount',
        `Less discounts it is ${dollars(priced.payableCents)}, but the PaymentIntent is for ${dollars(payment.amountCents)}`,
      );
    }
    if (payment.amountCents > priced.payableCents) {
      throw invalid(
        'paymentAmount',
        `It is ${dollars(priced.payableCents)}, but the PaymentIntent is for more: ${dollars(payment.amountCents)}`,
      );
    }
    return {
      kind: 'payment-intent',
      intentRecordId: record.id,
      payment,
      gateway: gateway.name,
      discountCents: (priced.amountCents ?? payment.amountCents) - payment.amountCents,
    };
  }

  /**
   * `nmiPaymentToken` in place of a `stripeSetupId`, as the Case Create page has it: the card is saved in NMI's
   * Customer Vault and nothing is charged. `record` then saves it for the patient and records the payable
   * amount as owed (UNPAID), as for a SetupIntent; later holds and charges use the vault entry. A retried
   * intake saves the card again, which charges nothing either.
   */
  private async saveToken(
    tenant: Tenant,
    token: string,
  ): Promise<{ kind: 'setup'; setupIntentId: string; saved: SavedPaymentMethod }> {
    const gateway = (await this.gateways.forOrganization(tenant.organizationId)).nmi;
    if (!gateway) throw invalid('nmiPaymentToken', 'NMI payments are not configured on this server');
    const outcome = await this.call(() =>
      gateway.saveToken({ token, metadata: { care360_organization_id: tenant.organizationId } }),
    );
    if (outcome.status === 'declined') throw new ApiError(402, `Payment was declined: ${outcome.message}`);
    return { kind: 'setup', setupIntentId: outcome.saved.customerId ?? '', saved: outcome.saved };
  }

  /** A sale for the payable amount, saving the card in NMI's vault for later holds. */
  private async chargeToken(
    tenant: Tenant,
    token: string,
    priced: Priced,
    request: { idempotencyKey: string | undefined; fingerprint: string },
  ): Promise<TokenCharge> {
    const gateway = (await this.gateways.forOrganization(tenant.organizationId)).nmi;
    if (!gateway) throw invalid('nmiPaymentToken', 'NMI payments are not configured on this server');
    if (priced.payableCents === null) throw invalid('paymentAmount', 'Required with nmiPaymentToken');
    if (priced.payableCents === 0) {
      return { kind: 'nmi', intentRecordId: null, payment: null, gateway: gateway.name, promoCodesReserved: false };
    }
    const repository = new PaymentRepository(this.db, tenant);
    // A retried intake (same idempotencyKey, same token) finds the record of the charge made for it.
    const requestKey = request.idempotencyKey
      ? `intake:${request.idempotencyKey}:${createHash('sha256').update(token).digest('hex').slice(0, 32)}`
      : undefined;
    const earlier = requestKey ? await repository.findIntentByRequestKey(requestKey) : null;
    let recordId: string;
    if (earlier) {
      if (earlier.case_id) throw new IdempotencyConflictError(); // its case exists
      // Another request with the same key (charges recorded before fingerprints: another amount).
      if (
        earlier.request_fingerprint
          ? earlier.request_fingerprint !== request.fingerprint
          : earlier.amount_cents !== priced.payableCents
      ) {
        throw new IdempotencyConflictError(
          'This idempotencyKey was used with other payment fields; send them unchanged, or use a new idempotencyKey.',
        );
      }
      const claimed = await repository.claimIntent(earlier.id, this.claimMs);
      if (!claimed) throw inProgress();
      // Charged, but the case was never written: this intake takes that charge (the claim ends with it).
      if (claimed.status === 'succeeded' && claimed.result) {
        return {
          kind: 'nmi',
          intentRecordId: claimed.id,
          payment: reviveResult(claimed.result),
          gateway: gateway.name,
          promoCodesReserved: claimed.reserved_promo_code_ids !== null,
        };
      }
      // The earlier attempt's outcome is unknown (timeout, crash): NMI's Query API is asked for its orderid first.
      recordId = earlier.id;
    } else {
      recordId = randomUUID();
      await this.recordCharge(tenant, recordId, {
        gateway: gateway.name,
        amountCents: priced.payableCents,
        promoCodes: priced.promoCodes,
        requestKey,
        requestFingerprint: request.fingerprint,
        claimMs: requestKey ? this.claimMs : undefined,
      });
    }
    let payment: PaymentResult;
    try {
      payment = await gateway.authorize({
        idempotencyKey: gatewayKey('intake-charge', recordId, 'sale'),
        amountCents: priced.payableCents,
        currency: 'usd',
        captureLater: false,
        source: { token, saveForLater: true },
        description: priced.description,
        metadata: { care360_organization_id: tenant.organizationId, care360_record_id: recordId },
        resume: earlier !== null,
      });
    } catch (error) {
      // Refused: nothing was charged. Else whether it was is unknown: a retry resumes at once (asking NMI first).
      if (error instanceof GatewayRequestError) await repository.closeIntent(recordId, 'failed');
      else await repository.releaseIntent(recordId);
      throw gatewayFailure(error);
    }
    if (payment.status === 'failed') {
      // Declined: nothing to reuse; a retry with another card may use the same idempotencyKey.
      await repository.closeIntent(recordId, 'failed', payment.id || null);
      throw new ApiError(402, `Payment was declined: ${payment.failureMessage ?? 'declined'}`);
    }
    await repository.recordIntentResult(recordId, {
      gatewayIntentId: payment.id,
      status: payment.status,
      customerId: payment.saved?.customerId ?? null,
      result: { ...payment, captureBefore: payment.captureBefore?.toISOString() ?? null },
    });
    const promoCodesReserved = earlier ? earlier.reserved_promo_code_ids !== null : true;
    return { kind: 'nmi', intentRecordId: recordId, payment, gateway: gateway.name, promoCodesReserved };
  }

  /**
   * The record of a sale about to be made, and one use of each promo code, in one transaction: a code used up
   * meanwhile refuses the intake before the card is charged. Another request that recorded the same charge
   * first makes this one wait (409).
   */
  private async recordCharge(
    tenant: Tenant,
    recordId: string,
    charge: {
      gateway: SavedPaymentMethod['gateway'];
      amountCents: number;
      promoCodes: PromoCodeRow[];
      requestKey: string | undefined;
      requestFingerprint: string;
      claimMs: number | undefined;
    },
  ): Promise<void> {
    const { promoCodes, ...intent } = charge;
    try {
      await this.db.transaction(async (tx) => {
        await new PaymentRepository(tx, tenant).insertIntent({
          id: recordId,
          kind: 'payment',
          ...intent,
          reservedPromoCodeIds: promoCodes.map((code) => code.id),
        });
        const redeemed = await this.promoCodes.redeemAll(tx, promoCodes);
        if (!redeemed.ok) throw invalid('promoCodes', `'${redeemed.code}' is not a valid promo code`);
      });
    } catch (error) {
      if (isUniqueViolation(error, INTENT_REQUEST_KEY_INDEX)) throw inProgress();
      throw error;
    }
  }

  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw gatewayFailure(error);
    }
  }
}

/** A gateway's failure as the intake answers it: an outage is 503 (retry), a refusal 400. */
function gatewayFailure(error: unknown): unknown {
  if (error instanceof GatewayUnavailableError)
    return new ApiError(503, 'The payment provider is unavailable; please retry');
  if (error instanceof GatewayRequestError)
    return invalid('payment', `The payment provider refused it: ${error.message}`);
  return error;
}

function reviveResult(stored: Record<string, unknown>): PaymentResult {
  const result = stored as unknown as PaymentResult & { captureBefore: string | null };
  return { ...result, captureBefore: result.captureBefore ? new Date(result.captureBefore) : null };
}
