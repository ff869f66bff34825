import {
  GatewayRequestError,
  GatewayUnavailableError,
  GatewayUnsupportedError,
  type AuthorizeInput,
  type CaptureInput,
  type GatewayWebhookEvent,
  type PaymentGateway,
  type PaymentResult,
  type ReferenceInput,
  type RefundInput,
  type RefundResult,
  type SetupIntentResult,
} from './types.ts';

export const NMI_DEFAULT_API_URL = 'https://secure.nmi.com/api/transact.php';

export interface NmiGatewayOptions {
  securityKey: string;
  apiUrl: string;
  timeoutMs: number;
}

/** Integer cents -> NMI's decimal amount ("45.00"). */
function nmiAmount(cents: number): string {
  return (cents / 100).toFixed(2);
}

interface NmiReply {
  response: string;
  responsetext: string;
  transactionid: string;
  customer_vault_id: string;
}

/**
 * NMI's Direct Post API: one form-encoded POST to transact.php per operation (`sale`, `auth`,
 * `capture`, `void`, `refund`); the answer is form-encoded too, with `response` 1 (approved),
 * 2 (declined) or 3 (error). NMI has no idempotency-key header: our key travels as `orderid`,
 * and our own records make sure a settled operation is never sent twice.
 */
export class NmiGateway implements PaymentGateway {
  readonly name = 'nmi' as const;
  readonly supportsIntents = false;

  constructor(private readonly options: NmiGatewayOptions) {}

  createSetupIntent(): Promise<SetupIntentResult> {
    return Promise.reject(new GatewayUnsupportedError('nmi', 'SetupIntents'));
  }

  createPaymentIntent(): Promise<PaymentResult> {
    return Promise.reject(new GatewayUnsupportedError('nmi', 'PaymentIntents'));
  }

  async authorize(input: AuthorizeInput): Promise<PaymentResult> {
    const fields: Record<string, string> = {
      type: input.captureLater ? 'auth' : 'sale',
      amount: nmiAmount(input.amountCents),
      currency: input.currency.toUpperCase(),
      orderid: input.idempotencyKey,
    };
    if (input.description) fields.order_description = input.description.slice(0, 255);
    if ('token' in input.source) {
      fields.payment_token = input.source.token;
      if (input.source.saveForLater) fields.customer_vault = 'add_customer';
    } else {
      const vaultId = input.source.savedMethod.customerId;
      if (!vaultId) throw new GatewayRequestError('nmi', 'The saved payment method has no NMI customer vault id');
      fields.customer_vault_id = vaultId;
    }
    const reply = await this.post(fields);
    const approved = reply.response === '1';
    if (reply.response === '3') throw new GatewayRequestError('nmi', reply.responsetext || 'NMI rejected the request');
    return {
      id: reply.transactionid,
      clientSecret: null,
      status: approved ? (input.captureLater ? 'authorized' : 'succeeded') : 'failed',
      amountCents: input.amountCents,
      amountCapturableCents: approved && input.captureLater ? input.amountCents : 0,
      amountReceivedCents: approved && !input.captureLater ? input.amountCents : 0,
      amountRefundedCents: 0,
      currency: input.currency,
      customerId: reply.customer_vault_id || null,
      paymentMethodId: null,
      // NMI does not report when an authorization lapses.
      captureBefore: null,
      failureMessage: approved ? null : reply.responsetext || 'The card was declined',
      metadata: input.metadata,
      saved:
        approved && reply.customer_vault_id
          ? { gateway: 'nmi', customerId: reply.customer_vault_id, paymentMethodId: null }
          : null,
    };
  }

  async capture(input: CaptureInput): Promise<PaymentResult> {
    const fields: Record<string, string> = {
      type: 'capture',
      transactionid: input.reference,
      orderid: input.idempotencyKey,
    };
    if (input.amountCents !== undefined) fields.amount = nmiAmount(input.amountCents);
    const reply = await this.post(fields);
    if (reply.response !== '1') throw new GatewayRequestError('nmi', reply.responsetext || 'NMI refused the capture');
    return this.settled(input.reference, 'succeeded', input.amountCents ?? 0);
  }

  async cancel(input: ReferenceInput): Promise<PaymentResult> {
    const reply = await this.post({ type: 'void', transactionid: input.reference, orderid: input.idempotencyKey });
    if (reply.response !== '1') throw new GatewayRequestError('nmi', reply.responsetext || 'NMI refused the void');
    return this.settled(input.reference, 'canceled', 0);
  }

  async refund(input: RefundInput): Promise<RefundResult> {
    const fields: Record<string, string> = {
      type: 'refund',
      transactionid: input.reference,
      orderid: input.idempotencyKey,
    };
    if (input.amountCents !== undefined) fields.amount = nmiAmount(input.amountCents);
    const reply = await this.post(fields);
    if (reply.response !== '1') throw new GatewayRequestError('nmi', reply.responsetext || 'NMI refused the refund');
    return { id: reply.transactionid, status: 'succeeded', amountCents: input.amountCents ?? 0 };
  }

  /** Direct Post has no retrieve; NMI's Query API is separate and not used here. */
  retrievePayment(): Promise<PaymentResult | null> {
    return Promise.reject(new GatewayUnsupportedError('nmi', 'retrieving transactions'));
  }

  retrieveSetupIntent(): Promise<SetupIntentResult | null> {
    return Promise.reject(new GatewayUnsupportedError('nmi', 'SetupIntents'));
  }

  parseWebhook(): GatewayWebhookEvent {
    throw new GatewayUnsupportedError('nmi', 'webhooks');
  }

  private settled(reference: string, status: 'succeeded' | 'canceled', receivedCents: number): PaymentResult {
    return {
      id: reference,
      clientSecret: null,
      status,
      amountCents: receivedCents,
      amountCapturableCents: 0,
      amountReceivedCents: receivedCents,
      amountRefundedCents: 0,
      currency: 'usd',
      customerId: null,
      paymentMethodId: null,
      captureBefore: null,
      failureMessage: null,
      metadata: {},
      saved: null,
    };
  }

  private async post(fields: Record<string, string>): Promise<NmiReply> {
    const body = new URLSearchParams({ security_key: this.options.securityKey, ...fields });
    let response: Response;
    try {
      response = await fetch(this.options.apiUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      throw new GatewayUnavailableError('nmi', `NMI is unreachable: ${error instanceof Error ? error.name : 'error'}`);
    }
    if (response.status >= 500) throw new GatewayUnavailableError('nmi', `NMI answered HTTP ${response.status}`);
    const text = await response.text().catch(() => '');
    if (!response.ok) throw new GatewayRequestError('nmi', `NMI answered HTTP ${response.status}`);
    const reply = new URLSearchParams(text);
    const value = (name: string) => reply.get(name) ?? '';
    if (!['1', '2', '3'].includes(value('response'))) {
      throw new GatewayUnavailableError('nmi', 'NMI answered without a response code');
    }
    return {
      response: value('response'),
      responsetext: value('responsetext'),
      transactionid: value('transactionid'),
      customer_vault_id: value('customer_vault_id'),
    };
  }
}
