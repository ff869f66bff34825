import Stripe from 'stripe';
import {
  GatewayRequestError,
  GatewayUnavailableError,
  GatewayUnsupportedError,
  WebhookSignatureError,
  type AuthorizeInput,
  type CaptureInput,
  type CreatePaymentIntentInput,
  type CreateSetupIntentInput,
  type GatewayPaymentStatus,
  type GatewaySetupStatus,
  type GatewayWebhookEvent,
  type PaymentGateway,
  type PaymentResult,
  type ReferenceInput,
  type RefundInput,
  type RefundResult,
  type SaveTokenResult,
  type SetupIntentResult,
} from './types.ts';

export interface StripeGatewayOptions {
  secretKey: string;
  webhookSecret: string | undefined;
  /** Another Stripe-compatible host, e.g. http://127.0.0.1:12111 (tests). */
  apiUrl: string | undefined;
  timeoutMs: number;
  maxNetworkRetries: number;
}

/** STRIPE_API_URL -> the SDK's host/port/protocol options. */
export function stripeHostOptions(apiUrl: string | undefined): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  if (!apiUrl) return {};
  const url = new URL(apiUrl);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port || (protocol === 'http' ? 80 : 443), protocol };
}

const paymentStatuses: Record<string, GatewayPaymentStatus> = {
  requires_payment_method: 'pending',
  requires_confirmation: 'pending',
  requires_action: 'pending',
  processing: 'processing',
  requires_capture: 'authorized',
  succeeded: 'succeeded',
  canceled: 'canceled',
};

const setupStatuses: Record<string, GatewaySetupStatus> = {
  requires_payment_method: 'pending',
  requires_confirmation: 'pending',
  requires_action: 'pending',
  processing: 'processing',
  succeeded: 'succeeded',
  canceled: 'canceled',
};

const idOf = (value: string | { id: string } | null | undefined): string | null =>
  value == null ? null : typeof value === 'string' ? value : value.id;

/** The metadata field of a refund that holds the idempotency key it was sent with. */
const REFUND_KEY_METADATA = 'care360_refund_key';

function stripeRefundResult(refund: Stripe.Refund): RefundResult {
  // A canceled refund was never made; `requires_action` is still on its way, as `pending` is.
  const status =
    refund.status === 'succeeded'
      ? 'succeeded'
      : refund.status === 'failed' || refund.status === 'canceled'
        ? 'failed'
        : 'pending';
  return { id: refund.id, status, amountCents: refund.amount };
}

function stringMetadata(metadata: Stripe.Metadata | null | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata ?? {}).map(([key, value]) => [key, String(value)]));
}

/** Stripe through its official SDK. Every mutating request carries the caller's idempotency key. */
export class StripeGateway implements PaymentGateway {
  readonly name = 'stripe' as const;
  readonly supportsIntents = true;
  /** Stripe's smallest USD charge (a smaller capture fails with amount_too_small). */
  readonly minimumAmountCents = 50;
  private readonly stripe: Stripe;

  constructor(private readonly options: StripeGatewayOptions) {
    this.stripe = new Stripe(options.secretKey, {
      ...stripeHostOptions(options.apiUrl),
      timeout: options.timeoutMs,
      maxNetworkRetries: options.maxNetworkRetries,
      telemetry: false,
      appInfo: { name: 'care360' },
    });
  }

  async createSetupIntent(input: CreateSetupIntentInput): Promise<SetupIntentResult> {
    // A customer to attach the saved method to, so it can be charged off-session later.
    const customer = await this.call(() =>
      this.stripe.customers.create(
        { metadata: input.metadata },
        { idempotencyKey: `${input.idempotencyKey}:customer` },
      ),
    );
    const intent = await this.call(() =>
      this.stripe.setupIntents.create(
        { customer: customer.id, usage: 'off_session', metadata: input.metadata },
        { idempotencyKey: input.idempotencyKey },
      ),
    );
    return this.setupResult(intent);
  }

  async createPaymentIntent(input: CreatePaymentIntentInput): Promise<PaymentResult> {
    const params: Stripe.PaymentIntentCreateParams = {
      amount: input.amountCents,
      currency: input.currency,
      metadata: input.metadata,
    };
    if (input.paymentMethodTypes?.length) {
      params.allowed_payment_method_types =
        input.paymentMethodTypes as Stripe.PaymentIntentCreateParams.AllowedPaymentMethodType[];
    } else params.automatic_payment_methods = { enabled: true };
    const intent = await this.call(() =>
      this.stripe.paymentIntents.create(params, { idempotencyKey: input.idempotencyKey }),
    );
    return this.paymentResult(intent);
  }

  async authorize(input: AuthorizeInput): Promise<PaymentResult> {
    if (!('savedMethod' in input.source)) {
      throw new GatewayRequestError('stripe', 'Stripe charges need a saved payment method, not a token');
    }
    const { customerId, paymentMethodId } = input.source.savedMethod;
    if (!paymentMethodId) throw new GatewayRequestError('stripe', 'The saved payment method has no Stripe id');
    const params: Stripe.PaymentIntentCreateParams = {
      amount: input.amountCents,
      currency: input.currency,
      payment_method: paymentMethodId,
      confirm: true,
      off_session: true,
      capture_method: input.captureLater ? 'manual' : 'automatic',
      metadata: input.metadata,
      expand: ['latest_charge'],
    };
    if (customerId) params.customer = customerId;
    if (input.description) params.description = input.description;
    try {
      const intent = await this.stripe.paymentIntents.create(params, { idempotencyKey: input.idempotencyKey });
      return this.paymentResult(intent);
    } catch (error) {
      // A decline answers 402 with the intent attached: a result, not an outage.
      if (error instanceof Stripe.errors.StripeCardError) {
        const raw = (error.raw ?? {}) as { payment_intent?: Stripe.PaymentIntent };
        const declined = raw.payment_intent ? this.paymentResult(raw.payment_intent) : null;
        return {
          ...(declined ?? this.emptyFailure(input)),
          status: 'failed',
          failureMessage: error.message || 'Your card was declined.',
        };
      }
      throw this.translate(error);
    }
  }

  /** Stripe saves cards through SetupIntents confirmed in the browser, never from a one-time token here. */
  saveToken(): Promise<SaveTokenResult> {
    return Promise.reject(new GatewayUnsupportedError('stripe', 'saving one-time tokens'));
  }

  async capture(input: CaptureInput): Promise<PaymentResult> {
    const params: Stripe.PaymentIntentCaptureParams = { expand: ['latest_charge'] };
    if (input.amountCents !== undefined) params.amount_to_capture = input.amountCents;
    const intent = await this.call(() =>
      this.stripe.paymentIntents.capture(input.reference, params, { idempotencyKey: input.idempotencyKey }),
    );
    return this.paymentResult(intent);
  }

  async cancel(input: ReferenceInput): Promise<PaymentResult> {
    const intent = await this.call(() =>
      this.stripe.paymentIntents.cancel(input.reference, {}, { idempotencyKey: input.idempotencyKey }),
    );
    return this.paymentResult(intent);
  }

  async refund(input: RefundInput): Promise<RefundResult> {
    if (input.resume && input.findable !== false) {
      // The key is replayed for a day only: a refund the first attempt made is found by its metadata instead.
      const earlier = await this.findRefund(input);
      if (earlier) return earlier;
    }
    const params: Stripe.RefundCreateParams = { payment_intent: input.reference };
    if (input.amountCents !== undefined) params.amount = input.amountCents;
    // Stripe forgets idempotency keys after a day and cannot be asked for one: the key in the refund's metadata is
    // how findRefund tells a refund whose answer was lost from one never made.
    if (input.findable !== false) params.metadata = { [REFUND_KEY_METADATA]: input.idempotencyKey };
    const refund = await this.call(() => this.stripe.refunds.create(params, { idempotencyKey: input.idempotencyKey }));
    return stripeRefundResult(refund);
  }

  /** The payment intent's refund carrying this key in its metadata (refund), if Stripe made one. */
  async findRefund(input: ReferenceInput): Promise<RefundResult | null> {
    try {
      for await (const refund of this.stripe.refunds.list({ payment_intent: input.reference, limit: 100 })) {
        if (refund.metadata?.[REFUND_KEY_METADATA] === input.idempotencyKey) return stripeRefundResult(refund);
      }
      return null;
    } catch (error) {
      throw this.translate(error);
    }
  }

  async retrievePayment(reference: string): Promise<PaymentResult | null> {
    try {
      const intent = await this.stripe.paymentIntents.retrieve(reference, { expand: ['latest_charge'] });
      return this.paymentResult(intent);
    } catch (error) {
      if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404) return null;
      throw this.translate(error);
    }
  }

  async retrieveSetupIntent(reference: string): Promise<SetupIntentResult | null> {
    try {
      return this.setupResult(await this.stripe.setupIntents.retrieve(reference));
    } catch (error) {
      if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404) return null;
      throw this.translate(error);
    }
  }

  parseWebhook(rawBody: Buffer, signatureHeader: string | undefined): GatewayWebhookEvent {
    if (!this.options.webhookSecret) throw new WebhookSignatureError('STRIPE_WEBHOOK_SECRET is not configured');
    if (!signatureHeader) throw new WebhookSignatureError('Missing Stripe-Signature header');
    let event: Stripe.Event;
    try {
      event = this.stripe.webhooks.constructEvent(rawBody, signatureHeader, this.options.webhookSecret);
    } catch {
      throw new WebhookSignatureError();
    }
    return interpretStripeEvent(event);
  }

  private emptyFailure(input: AuthorizeInput): PaymentResult {
    return {
      id: '',
      clientSecret: null,
      status: 'failed',
      amountCents: input.amountCents,
      amountCapturableCents: 0,
      amountReceivedCents: 0,
      amountRefundedCents: 0,
      currency: input.currency,
      customerId: null,
      paymentMethodId: null,
      captureBefore: null,
      failureMessage: null,
      metadata: input.metadata,
      saved: null,
    };
  }

  private setupResult(intent: Stripe.SetupIntent): SetupIntentResult {
    return {
      id: intent.id,
      clientSecret: intent.client_secret,
      status:
        intent.last_setup_error && intent.status === 'requires_payment_method'
          ? 'failed'
          : (setupStatuses[intent.status] ?? 'processing'),
      customerId: idOf(intent.customer),
      paymentMethodId: idOf(intent.payment_method),
      metadata: stringMetadata(intent.metadata),
    };
  }

  private paymentResult(intent: Stripe.PaymentIntent): PaymentResult {
    return stripePaymentResult(intent);
  }

  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw this.translate(error);
    }
  }

  private translate(error: unknown): Error {
    if (error instanceof Stripe.errors.StripeError) {
      const status = error.statusCode ?? 0;
      if (
        error instanceof Stripe.errors.StripeConnectionError ||
        error instanceof Stripe.errors.StripeAPIError ||
        status >= 500 ||
        status === 429 ||
        status === 0
      ) {
        return new GatewayUnavailableError('stripe', `Stripe is unavailable: ${error.message}`);
      }
      // Another request with this key is in flight, or was sent with other parameters by an earlier version: what
      // Stripe did with the key is unknown, so it is not taken as a refusal.
      if (error instanceof Stripe.errors.StripeIdempotencyError) {
        return new GatewayUnavailableError(
          'stripe',
          `Stripe did not answer for this idempotency key: ${error.message}`,
        );
      }
      return new GatewayRequestError('stripe', error.message, error.code ?? null);
    }
    return error instanceof Error ? error : new Error(String(error));
  }
}

export function stripePaymentResult(intent: Stripe.PaymentIntent): PaymentResult {
  const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
  const captureBefore = charge?.payment_method_details?.card?.capture_before;
  const failed = intent.status === 'requires_payment_method' && intent.last_payment_error;
  return {
    id: intent.id,
    clientSecret: intent.client_secret,
    status: failed ? 'failed' : (paymentStatuses[intent.status] ?? 'processing'),
    amountCents: intent.amount,
    amountCapturableCents: intent.amount_capturable,
    amountReceivedCents: intent.amount_received,
    amountRefundedCents: charge?.amount_refunded ?? 0,
    currency: intent.currency,
    customerId: idOf(intent.customer),
    paymentMethodId: idOf(intent.payment_method),
    captureBefore: captureBefore ? new Date(captureBefore * 1000) : null,
    failureMessage: intent.last_payment_error?.message ?? null,
    metadata: stringMetadata(intent.metadata),
    saved: null,
  };
}

/** A verified Stripe event -> what it means for our records. Unknown types change nothing. */
export function interpretStripeEvent(event: Stripe.Event): GatewayWebhookEvent {
  const base: GatewayWebhookEvent = {
    id: event.id,
    type: event.type,
    paymentIntentId: null,
    setupIntentId: null,
    update: null,
    amountReceivedCents: null,
    amountRefundedCents: null,
    captureBefore: null,
    failureMessage: null,
    metadata: {},
  };
  const object = event.data.object as unknown as Record<string, unknown> & { id?: string; object?: string };
  if (event.type.startsWith('payment_intent.') && object.object === 'payment_intent') {
    const intent = object as unknown as Stripe.PaymentIntent;
    const result = stripePaymentResult(intent);
    base.paymentIntentId = intent.id;
    base.amountReceivedCents = intent.amount_received;
    base.captureBefore = result.captureBefore;
    base.failureMessage = result.failureMessage;
    base.metadata = result.metadata;
    const map: Record<string, 'PAID' | 'CANCELED' | 'ERROR' | 'HELD'> = {
      'payment_intent.succeeded': 'PAID',
      'payment_intent.canceled': 'CANCELED',
      'payment_intent.payment_failed': 'ERROR',
      'payment_intent.amount_capturable_updated': 'HELD',
    };
    const status = map[event.type];
    if (status) base.update = { kind: 'payment', status };
    return base;
  }
  if (event.type.startsWith('setup_intent.') && object.object === 'setup_intent') {
    const intent = object as unknown as Stripe.SetupIntent;
    base.setupIntentId = intent.id;
    base.metadata = stringMetadata(intent.metadata);
    const status: GatewaySetupStatus | null =
      event.type === 'setup_intent.succeeded'
        ? 'succeeded'
        : event.type === 'setup_intent.setup_failed'
          ? 'failed'
          : event.type === 'setup_intent.canceled'
            ? 'canceled'
            : null;
    if (status) {
      base.update = {
        kind: 'setup',
        status,
        paymentMethodId: idOf(intent.payment_method),
        customerId: idOf(intent.customer),
      };
    }
    return base;
  }
  if (event.type === 'charge.refunded' && object.object === 'charge') {
    const charge = object as unknown as Stripe.Charge;
    base.paymentIntentId = idOf(charge.payment_intent);
    base.amountRefundedCents = charge.amount_refunded;
    base.update = { kind: 'payment', status: 'REFUND' };
    return base;
  }
  if (event.type.startsWith('charge.dispute.') && object.object === 'dispute') {
    const dispute = object as unknown as Stripe.Dispute;
    base.paymentIntentId = idOf(dispute.payment_intent);
    if (event.type === 'charge.dispute.closed') {
      base.update = { kind: 'payment', status: dispute.status === 'lost' ? 'LOST_DISPUTE' : 'PAID' };
    } else {
      base.update = { kind: 'payment', status: 'IN_DISPUTE' };
    }
    return base;
  }
  return base;
}
