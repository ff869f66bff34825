import { randomBytes } from 'node:crypto';
import type { Queryable } from '../../../db/database.ts';
import { isUniqueViolation } from '../../../db/database.ts';
import {
  GatewayRequestError,
  GatewayUnsupportedError,
  type AuthorizeInput,
  type CaptureInput,
  type CreatePaymentIntentInput,
  type CreateSetupIntentInput,
  type GatewayPaymentStatus,
  type GatewayWebhookEvent,
  type PaymentGateway,
  type PaymentResult,
  type ReferenceInput,
  type RefundInput,
  type RefundResult,
  type SaveTokenInput,
  type SaveTokenResult,
  type SetupIntentResult,
} from './types.ts';

/** How long a simulated hold lasts, like a card authorization at Stripe. */
const HOLD_DAYS = 7;

const token = (length: number) => randomBytes(length).toString('base64url').replace(/[-_]/g, 'x').slice(0, length);

interface ObjectRow {
  id: string;
  kind: 'setup_intent' | 'payment_intent';
  client_secret: string | null;
  status: string;
  amount_cents: number | null;
  amount_capturable_cents: number;
  amount_received_cents: number;
  amount_refunded_cents: number;
  currency: string;
  customer_id: string | null;
  payment_method_id: string | null;
  capture_before: Date | null;
  metadata: Record<string, string>;
}

const columns = `id, kind, client_secret, status, amount_cents, amount_capturable_cents, amount_received_cents,
  amount_refunded_cents, currency, customer_id, payment_method_id, capture_before, metadata`;

/**
 * The gateway used when no STRIPE_SECRET_KEY is set, so that the embedded default works end to end.
 * Ids and client secrets are shaped like Stripe's; state lives in the database. It plays a customer who
 * always completes payment: SetupIntents and PaymentIntents are created already succeeded, with a
 * simulated saved card. A one-time token (the NMI path) containing "decline" is declined.
 * It never moves money.
 */
export class SimulatedGateway implements PaymentGateway {
  readonly name = 'simulated' as const;
  readonly supportsIntents = true;
  /** As Stripe's, so that both behave alike. */
  readonly minimumAmountCents = 50;

  constructor(private readonly db: Queryable) {}

  async createSetupIntent(input: CreateSetupIntentInput): Promise<SetupIntentResult> {
    const id = `seti_sim${token(20)}`;
    const row = await this.insertOnce(input.idempotencyKey, {
      id,
      kind: 'setup_intent',
      clientSecret: `${id}_secret_${token(24)}`,
      status: 'succeeded',
      amountCents: null,
      currency: 'usd',
      captureMethod: null,
      customerId: `cus_sim${token(14)}`,
      paymentMethodId: `pm_sim${token(20)}`,
      metadata: input.metadata,
    });
    return setupResult(row);
  }

  async createPaymentIntent(input: CreatePaymentIntentInput): Promise<PaymentResult> {
    const id = `pi_sim${token(20)}`;
    const row = await this.insertOnce(input.idempotencyKey, {
      id,
      kind: 'payment_intent',
      clientSecret: `${id}_secret_${token(24)}`,
      status: 'succeeded',
      amountCents: input.amountCents,
      currency: input.currency,
      captureMethod: 'automatic',
      customerId: null,
      paymentMethodId: `pm_sim${token(20)}`,
      metadata: input.metadata,
      received: input.amountCents,
    });
    return paymentResult(row);
  }

  async authorize(input: AuthorizeInput): Promise<PaymentResult> {
    const declined = 'token' in input.source && /decline/i.test(input.source.token);
    const id = `pi_sim${token(20)}`;
    const saved = 'token' in input.source ? null : input.source.savedMethod;
    const row = await this.insertOnce(input.idempotencyKey, {
      id,
      kind: 'payment_intent',
      clientSecret: `${id}_secret_${token(24)}`,
      status: declined ? 'failed' : input.captureLater ? 'authorized' : 'succeeded',
      amountCents: input.amountCents,
      currency: input.currency,
      captureMethod: input.captureLater ? 'manual' : 'automatic',
      customerId: saved?.customerId ?? (declined ? null : `cus_sim${token(14)}`),
      paymentMethodId: saved?.paymentMethodId ?? (declined ? null : `pm_sim${token(20)}`),
      metadata: input.metadata,
      capturable: !declined && input.captureLater ? input.amountCents : 0,
      received: !declined && !input.captureLater ? input.amountCents : 0,
      captureBefore: !declined && input.captureLater ? new Date(Date.now() + HOLD_DAYS * 86_400_000) : null,
    });
    const result = paymentResult(row);
    if (result.status === 'failed') return { ...result, failureMessage: 'Your card was declined. (simulated)' };
    if ('token' in input.source && input.source.saveForLater) {
      result.saved = { gateway: 'simulated', customerId: row.customer_id, paymentMethodId: row.payment_method_id };
    }
    return result;
  }

  /** Keeps a one-time token as a simulated saved card; a token containing "decline" is declined. */
  saveToken(input: SaveTokenInput): Promise<SaveTokenResult> {
    if (/decline/i.test(input.token)) {
      return Promise.resolve({ status: 'declined', message: 'Your card was declined. (simulated)' });
    }
    return Promise.resolve({
      status: 'saved',
      saved: { gateway: 'simulated', customerId: `cus_sim${token(14)}`, paymentMethodId: `pm_sim${token(20)}` },
    });
  }

  async capture(input: CaptureInput): Promise<PaymentResult> {
    const row = await this.require(input.reference);
    if (row.status === 'succeeded') return paymentResult(row); // a replayed capture
    if (row.status !== 'authorized') {
      throw new GatewayRequestError('simulated', `This PaymentIntent cannot be captured (status ${row.status})`);
    }
    const amount = input.amountCents ?? row.amount_capturable_cents;
    if (amount > row.amount_capturable_cents) {
      throw new GatewayRequestError('simulated', 'The amount to capture exceeds the amount capturable');
    }
    return paymentResult(
      await this.update(row.id, { status: 'succeeded', amount_capturable_cents: 0, amount_received_cents: amount }),
    );
  }

  async cancel(input: ReferenceInput): Promise<PaymentResult> {
    const row = await this.require(input.reference);
    if (row.status === 'canceled') return paymentResult(row);
    if (row.status === 'succeeded')
      throw new GatewayRequestError('simulated', 'A succeeded PaymentIntent cannot be canceled');
    return paymentResult(await this.update(row.id, { status: 'canceled', amount_capturable_cents: 0 }));
  }

  async refund(input: RefundInput): Promise<RefundResult> {
    const row = await this.require(input.reference);
    const refundable = row.amount_received_cents - row.amount_refunded_cents;
    const amount = input.amountCents ?? refundable;
    if (amount <= 0 || amount > refundable) throw new GatewayRequestError('simulated', 'Nothing left to refund');
    await this.update(row.id, { amount_refunded_cents: row.amount_refunded_cents + amount });
    return { id: `re_sim${token(20)}`, status: 'succeeded', amountCents: amount };
  }

  async retrievePayment(reference: string): Promise<PaymentResult | null> {
    const row = await this.find(reference);
    return row && row.kind === 'payment_intent' ? paymentResult(row) : null;
  }

  async retrieveSetupIntent(reference: string): Promise<SetupIntentResult | null> {
    const row = await this.find(reference);
    return row && row.kind === 'setup_intent' ? setupResult(row) : null;
  }

  parseWebhook(): GatewayWebhookEvent {
    throw new GatewayUnsupportedError('simulated', 'webhooks');
  }

  private async insertOnce(
    idempotencyKey: string,
    object: {
      id: string;
      kind: 'setup_intent' | 'payment_intent';
      clientSecret: string;
      status: GatewayPaymentStatus | 'succeeded';
      amountCents: number | null;
      currency: string;
      captureMethod: string | null;
      customerId: string | null;
      paymentMethodId: string | null;
      metadata: Record<string, string>;
      capturable?: number;
      received?: number;
      captureBefore?: Date | null;
    },
  ): Promise<ObjectRow> {
    try {
      const { rows } = await this.db.query<ObjectRow>(
        `insert into simulated_gateway_objects
           (id, kind, idempotency_key, client_secret, status, amount_cents, amount_capturable_cents,
            amount_received_cents, currency, capture_method, customer_id, payment_method_id, capture_before, metadata)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb)
         returning ${columns}`,
        [
          object.id,
          object.kind,
          idempotencyKey,
          object.clientSecret,
          object.status,
          object.amountCents,
          object.capturable ?? 0,
          object.received ?? 0,
          object.currency,
          object.captureMethod,
          object.customerId,
          object.paymentMethodId,
          object.captureBefore ?? null,
          JSON.stringify(object.metadata),
        ],
      );
      return rows[0]!;
    } catch (error) {
      // The same idempotency key again: answer with what the first request created, like Stripe.
      if (!isUniqueViolation(error, 'simulated_gateway_objects_idempotency_unique')) throw error;
      const { rows } = await this.db.query<ObjectRow>(
        `select ${columns} from simulated_gateway_objects where idempotency_key = $1`,
        [idempotencyKey],
      );
      return rows[0]!;
    }
  }

  private async find(id: string): Promise<ObjectRow | null> {
    const { rows } = await this.db.query<ObjectRow>(`select ${columns} from simulated_gateway_objects where id = $1`, [
      id,
    ]);
    return rows[0] ?? null;
  }

  private async require(id: string): Promise<ObjectRow> {
    const row = await this.find(id);
    if (!row || row.kind !== 'payment_intent')
      throw new GatewayRequestError('simulated', `No such PaymentIntent: ${id}`);
    return row;
  }

  private async update(id: string, changes: Record<string, string | number>): Promise<ObjectRow> {
    const names = Object.keys(changes);
    const assignments = names.map((name, index) => `${name} = $${index + 2}`).join(', ');
    const { rows } = await this.db.query<ObjectRow>(
      `update simulated_gateway_objects set ${assignments}, updated_at = now() where id = $1 returning ${columns}`,
      [id, ...names.map((name) => changes[name])],
    );
    return rows[0]!;
  }
}

function setupResult(row: ObjectRow): SetupIntentResult {
  return {
    id: row.id,
    clientSecret: row.client_secret,
    status: row.status === 'succeeded' ? 'succeeded' : row.status === 'canceled' ? 'canceled' : 'pending',
    customerId: row.customer_id,
    paymentMethodId: row.payment_method_id,
    metadata: row.metadata,
  };
}

function paymentResult(row: ObjectRow): PaymentResult {
  return {
    id: row.id,
    clientSecret: row.client_secret,
    status: row.status as GatewayPaymentStatus,
    amountCents: row.amount_cents ?? 0,
    amountCapturableCents: row.amount_capturable_cents,
    amountReceivedCents: row.amount_received_cents,
    amountRefundedCents: row.amount_refunded_cents,
    currency: row.currency,
    customerId: row.customer_id,
    paymentMethodId: row.payment_method_id,
    captureBefore: row.capture_before,
    failureMessage: null,
    metadata: row.metadata,
    saved: null,
  };
}
