/**
 * One interface over every payment provider (Stripe, NMI, the simulated gateway). Amounts are integer
 * minor units (cents) here and everywhere inside the server; only the HTTP edge speaks dollars.
 * Every mutating call takes an idempotency key derived from our own record id, so a retry after a
 * timeout or a crash never charges twice.
 */

export type GatewayName = 'stripe' | 'nmi' | 'simulated';

/** Stripe may prune an idempotency key once it is 24 hours old; an hour is left for clocks and a call's retries. */
const STRIPE_KEY_REPLAYED_MS = 23 * 3600_000;

/**
 * Whether a call first sent at `firstSentAt`, its outcome unknown, may be sent again under its key: Stripe replays
 * a key only for a day, and after that takes it as a new call (a second charge, hold or refund). NMI keeps no keys
 * at all; its retries look the call up by `orderid` first.
 */
export function keyStillReplayed(gateway: string, firstSentAt: Date): boolean {
  return gateway !== 'stripe' || Date.now() - firstSentAt.getTime() < STRIPE_KEY_REPLAYED_MS;
}

/** A payment's state at the provider, normalized across providers. */
export type GatewayPaymentStatus =
  | 'pending' // waiting for the customer (payment method, confirmation or 3-D Secure)
  | 'processing' // submitted, outcome not known yet
  | 'authorized' // held: capturable, not yet captured
  | 'succeeded' // money collected (captured, possibly partially)
  | 'canceled' // released or canceled before capture
  | 'failed'; // declined or errored

/** A SetupIntent's state at the provider, normalized. */
export type GatewaySetupStatus = 'pending' | 'processing' | 'succeeded' | 'canceled' | 'failed';

/** A payment method saved for later off-session charges and holds. */
export interface SavedPaymentMethod {
  gateway: GatewayName;
  /** Stripe customer id, or NMI customer vault id. */
  customerId: string | null;
  /** Stripe payment method id (null for NMI, where the vault id is the method). */
  paymentMethodId: string | null;
}

export interface SetupIntentResult {
  id: string;
  clientSecret: string | null;
  status: GatewaySetupStatus;
  customerId: string | null;
  paymentMethodId: string | null;
  metadata: Record<string, string>;
}

export interface PaymentResult {
  /** The provider's id: Stripe PaymentIntent id or NMI transaction id. */
  id: string;
  clientSecret: string | null;
  status: GatewayPaymentStatus;
  /** The amount asked for. */
  amountCents: number;
  /** Held and still capturable. */
  amountCapturableCents: number;
  /** Collected. */
  amountReceivedCents: number;
  /** Refunded so far (when the provider reports it). */
  amountRefundedCents: number;
  currency: string;
  customerId: string | null;
  paymentMethodId: string | null;
  /** When a hold expires (Stripe's capture_before); null when the provider does not say. */
  captureBefore: Date | null;
  /** A human-readable reason when declined or failed; never card data. */
  failureMessage: string | null;
  metadata: Record<string, string>;
  /** Set when the authorization also saved the method for later (NMI customer vault). */
  saved: SavedPaymentMethod | null;
}

export interface RefundResult {
  id: string;
  status: 'succeeded' | 'pending' | 'failed';
  amountCents: number;
}

/** What a provider's webhook event means for one of our payments. */
export interface GatewayWebhookEvent {
  id: string;
  type: string;
  /** The PaymentIntent / SetupIntent the event is about, when it names one. */
  paymentIntentId: string | null;
  setupIntentId: string | null;
  /** The update to apply; null when the event does not change our records. */
  update:
    | { kind: 'payment'; status: 'PAID' | 'CANCELED' | 'REFUND' | 'IN_DISPUTE' | 'LOST_DISPUTE' | 'ERROR' | 'HELD' }
    | { kind: 'setup'; status: GatewaySetupStatus; paymentMethodId: string | null; customerId: string | null }
    | null;
  /** For partial refunds and captures: the amounts the event reports. */
  amountReceivedCents: number | null;
  amountRefundedCents: number | null;
  captureBefore: Date | null;
  failureMessage: string | null;
  /** The object's metadata (our record ids travel there). */
  metadata: Record<string, string>;
}

export interface CreateSetupIntentInput {
  idempotencyKey: string;
  metadata: Record<string, string>;
}

export interface CreatePaymentIntentInput {
  idempotencyKey: string;
  amountCents: number;
  currency: string;
  paymentMethodTypes: string[] | undefined;
  metadata: Record<string, string>;
}

export interface AuthorizeInput {
  idempotencyKey: string;
  amountCents: number;
  currency: string;
  /** true: place a hold to capture later; false: charge now (sale). */
  captureLater: boolean;
  source: { savedMethod: SavedPaymentMethod } | { token: string; saveForLater: boolean };
  description: string | null;
  metadata: Record<string, string>;
  /**
   * An earlier attempt with this idempotency key may have reached the provider (a retry of a record left
   * pending by a timeout or a crash). Gateways without idempotency keys (NMI) look the key up first and
   * answer the transaction found instead of charging again; the others replay the key as usual.
   */
  resume?: boolean;
}

/** A one-time card token to keep for later holds and charges, without taking money. */
export interface SaveTokenInput {
  token: string;
  metadata: Record<string, string>;
}

/** The card was saved, or the gateway declined it (e.g. its verification failed). */
export type SaveTokenResult = { status: 'saved'; saved: SavedPaymentMethod } | { status: 'declined'; message: string };

export interface CaptureInput {
  idempotencyKey: string;
  reference: string;
  /** Part of the held amount; all of it when omitted. */
  amountCents?: number;
}

export interface ReferenceInput {
  idempotencyKey: string;
  reference: string;
}

export interface RefundInput extends ReferenceInput {
  amountCents?: number;
  /**
   * False for a refund first sent before gateways marked refunds for findRefund: its retry is sent as it was then
   * (a Stripe key replayed with other parameters is refused).
   */
  findable?: boolean;
  /** As AuthorizeInput's: an earlier attempt with this idempotency key may have reached the provider. */
  resume?: boolean;
}

export interface PaymentGateway {
  readonly name: GatewayName;
  /** Whether client-side intents (SetupIntent, PaymentIntent) exist on this gateway. */
  readonly supportsIntents: boolean;
  /** The smallest amount this gateway charges, holds or captures, in cents. */
  readonly minimumAmountCents: number;

  /** Initiate: a SetupIntent for the browser to confirm, saving a payment method. */
  createSetupIntent(input: CreateSetupIntentInput): Promise<SetupIntentResult>;
  /** Initiate: a PaymentIntent for the browser to confirm. */
  createPaymentIntent(input: CreatePaymentIntentInput): Promise<PaymentResult>;
  /** Authorize (hold) or sell, with a saved method or a one-time token. Declines resolve with status failed. */
  authorize(input: AuthorizeInput): Promise<PaymentResult>;
  /** Saves a one-time token for later use (NMI's Customer Vault); no money moves. */
  saveToken(input: SaveTokenInput): Promise<SaveTokenResult>;
  capture(input: CaptureInput): Promise<PaymentResult>;
  /** Releases a hold (or cancels an unconfirmed intent). */
  cancel(input: ReferenceInput): Promise<PaymentResult>;
  refund(input: RefundInput): Promise<RefundResult>;
  /**
   * Look up: the refund of this payment sent with this idempotency key, or null when the provider never made it.
   * A gateway without it cannot find a refund whose answer was lost.
   */
  findRefund?(input: ReferenceInput): Promise<RefundResult | null>;
  /** null when the provider does not know the id. */
  retrievePayment(reference: string): Promise<PaymentResult | null>;
  retrieveSetupIntent(reference: string): Promise<SetupIntentResult | null>;
  /** Verifies a webhook's signature on the raw body; throws WebhookSignatureError when it does not verify. */
  parseWebhook(rawBody: Buffer, signatureHeader: string | undefined): GatewayWebhookEvent;
}

/** The provider could not be reached, timed out or answered 5xx: the outcome is unknown. Retry later. */
export class GatewayUnavailableError extends Error {
  constructor(
    readonly gateway: GatewayName,
    message: string,
  ) {
    super(message);
    this.name = 'GatewayUnavailableError';
  }
}

/** The provider rejected the request itself (bad parameters, unknown id, not allowed in this state). */
export class GatewayRequestError extends Error {
  constructor(
    readonly gateway: GatewayName,
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'GatewayRequestError';
  }
}

/** This gateway does not offer the operation (e.g. SetupIntents on NMI). */
export class GatewayUnsupportedError extends Error {
  constructor(gateway: GatewayName, operation: string) {
    super(`${gateway} does not support ${operation}`);
    this.name = 'GatewayUnsupportedError';
  }
}

export class WebhookSignatureError extends Error {
  constructor(message = 'Invalid webhook signature') {
    super(message);
    this.name = 'WebhookSignatureError';
  }
}
