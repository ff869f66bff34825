import { centsToDecimalString, dollarsToCents } from '../../../money.ts';
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
  type SaveTokenInput,
  type SaveTokenResult,
  type SetupIntentResult,
} from './types.ts';

export const NMI_DEFAULT_API_URL = 'https://secure.nmi.com/api/transact.php';

export interface NmiGatewayOptions {
  securityKey: string;
  apiUrl: string;
  /** NMI's Query API; by default `apiUrl` with `transact.php` replaced by `query.php`. */
  queryUrl?: string | undefined;
  timeoutMs: number;
}

/** The Query API's URL next to a Direct Post URL (`.../api/transact.php` -> `.../api/query.php`). */
export function nmiQueryUrl(apiUrl: string): string {
  const url = new URL(apiUrl);
  url.pathname = /transact\.php$/.test(url.pathname)
    ? url.pathname.replace(/transact\.php$/, 'query.php')
    : `${url.pathname.replace(/\/$/, '')}/query.php`;
  return url.toString();
}

/** One action of a transaction in a Query API answer (the sale or auth, then captures, voids, refunds). */
export interface NmiQueryAction {
  actionType: string;
  amount: string;
  success: boolean;
  responseCode: string;
}

/** One `<transaction>` of a Query API answer: the fields we use. */
export interface NmiQueryTransaction {
  transactionId: string;
  orderId: string;
  condition: string;
  customerVaultId: string;
  actions: NmiQueryAction[];
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function xmlText(value: string): string {
  return value
    .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, (_, data: string) => data)
    .replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, entity: string) =>
      entity.startsWith('#x')
        ? String.fromCodePoint(Number.parseInt(entity.slice(2), 16))
        : entity.startsWith('#')
          ? String.fromCodePoint(Number.parseInt(entity.slice(1), 10))
          : XML_ENTITIES[entity]!,
    )
    .trim();
}

/** The text of the first `<name>` element directly in `xml` (nested elements are not searched apart). */
function xmlField(xml: string, name: string): string {
  const match = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>|<${name}(?:\\s[^>]*)?/>`).exec(xml);
  return match ? xmlText(match[1] ?? '') : '';
}

function xmlElements(xml: string, name: string): string[] {
  const pattern = new RegExp(`<${name}(?:\\s[^>]*)?>([\\s\\S]*?)</${name}>`, 'g');
  return [...xml.matchAll(pattern)].map((match) => match[1] ?? '');
}

/**
 * A strict reading of the Query API's small XML answer: `<nm_response>` holding zero or more
 * `<transaction>` elements, each with its `<action>` elements. Anything else (no `<nm_response>`, or an
 * `<error_response>`) is an error: the caller cannot tell whether the transaction exists.
 */
export function parseNmiQueryResponse(xml: string): NmiQueryTransaction[] {
  const root = /<nm_response(?:\s[^>]*)?>([\s\S]*)<\/nm_response>|<nm_response\s*\/>/.exec(xml);
  if (!root) throw new Error('not an nm_response document');
  const body = root[1] ?? '';
  const error = xmlField(body, 'error_response');
  if (error) throw new Error(error);
  return xmlElements(body, 'transaction').map((transaction) => {
    const actions = xmlElements(transaction, 'action').map((action) => ({
      actionType: xmlField(action, 'action_type'),
      amount: xmlField(action, 'amount'),
      success: xmlField(action, 'success') === '1',
      responseCode: xmlField(action, 'response_code'),
    }));
    const own = transaction.replace(/<action(?:\s[^>]*)?>[\s\S]*?<\/action>/g, '');
    return {
      transactionId: xmlField(own, 'transaction_id'),
      orderId: xmlField(own, 'order_id'),
      condition: xmlField(own, 'condition'),
      customerVaultId: xmlField(own, 'customer_vault_id'),
      actions,
    };
  });
}

/** The conditions of a transaction NMI did not make (or undid): not the charge or refund looked for. */
const NOT_MADE = ['failed', 'canceled', 'unknown'];

/** NMI writes amounts as decimal dollars ("45.00"), in its requests and its Query API answers alike. */
const nmiAmount = centsToDecimalString;
const amountCentsOf = (action: NmiQueryAction | undefined) => (action ? (dollarsToCents(action.amount) ?? 0) : 0);

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
 * and our own records make sure a settled operation is never sent twice. A sale or hold retried
 * while its record is still pending (`resume`) first asks the Query API (query.php) for a
 * transaction with that `orderid`, and answers it instead of charging again.
 */
export class NmiGateway implements PaymentGateway {
  readonly name = 'nmi' as const;
  readonly supportsIntents = false;
  readonly minimumAmountCents = 1;

  constructor(private readonly options: NmiGatewayOptions) {}

  createSetupIntent(): Promise<SetupIntentResult> {
    return Promise.reject(new GatewayUnsupportedError('nmi', 'SetupIntents'));
  }

  createPaymentIntent(): Promise<PaymentResult> {
    return Promise.reject(new GatewayUnsupportedError('nmi', 'PaymentIntents'));
  }

  async authorize(input: AuthorizeInput): Promise<PaymentResult> {
    if (input.resume) {
      // NMI has no idempotency key: an earlier attempt with this orderid may have been approved without
      // our record learning it (timeout, crash). Use that transaction instead of charging again.
      const earlier = await this.findApproved(input.idempotencyKey, input.captureLater ? 'auth' : 'sale');
      if (earlier) return this.fromQuery(earlier, input);
    }
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

  /**
   * A Customer Vault entry for the token (`customer_vault=add_customer`, no transaction type): the card is
   * kept for later `auth`s and `sale`s with its `customer_vault_id`, and nothing is charged. A repeated call
   * adds another entry, which charges nothing either.
   */
  async saveToken(input: SaveTokenInput): Promise<SaveTokenResult> {
    const reply = await this.post({ customer_vault: 'add_customer', payment_token: input.token });
    if (reply.response === '3') throw new GatewayRequestError('nmi', reply.responsetext || 'NMI rejected the request');
    if (reply.response !== '1') return { status: 'declined', message: reply.responsetext || 'The card was declined' };
    if (!reply.customer_vault_id) throw new GatewayUnavailableError('nmi', 'NMI answered without a customer_vault_id');
    return { status: 'saved', saved: { gateway: 'nmi', customerId: reply.customer_vault_id, paymentMethodId: null } };
  }

  async capture(input: CaptureInput): Promise<PaymentResult> {
    const fields: Record<string, string> = {
      type: 'capture',
      transactionid: input.reference,
      orderid: input.idempotencyKey,
    };
    if (input.amountCents !== undefined) fields.amount = nmiAmount(input.amountCents);
    const reply = await this.post(fields);
    if (reply.response !== '1') {
      // The retry of a capture NMI approved while its record was lost (a crash, a timeout, a lost database
      // connection) is refused as "not capturable": what NMI captured then is the answer.
      const earlier = await this.retrievePayment(input.reference);
      if (earlier?.status === 'succeeded' && earlier.amountReceivedCents > 0) {
        return this.settled(input.reference, 'succeeded', earlier.amountReceivedCents);
      }
      throw new GatewayRequestError('nmi', reply.responsetext || 'NMI refused the capture');
    }
    return this.settled(input.reference, 'succeeded', input.amountCents ?? 0);
  }

  async cancel(input: ReferenceInput): Promise<PaymentResult> {
    const reply = await this.post({ type: 'void', transactionid: input.reference, orderid: input.idempotencyKey });
    if (reply.response !== '1') {
      // Likewise the retry of a void NMI approved while its record was lost: the hold is released already.
      if ((await this.retrievePayment(input.reference))?.status === 'canceled') {
        return this.settled(input.reference, 'canceled', 0);
      }
      throw new GatewayRequestError('nmi', reply.responsetext || 'NMI refused the void');
    }
    return this.settled(input.reference, 'canceled', 0);
  }

  async refund(input: RefundInput): Promise<RefundResult> {
    if (input.resume) {
      // As for a sale: a refund NMI made while its answer was lost is answered instead of refunding again.
      const earlier = await this.findRefund(input);
      if (earlier) return earlier;
    }
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

  /** A transaction by its NMI id, through the Query API; null when NMI does not know it. */
  async retrievePayment(reference: string): Promise<PaymentResult | null> {
    const found = (await this.query({ transaction_id: reference })).find(
      (transaction) => transaction.transactionId === reference,
    );
    if (!found) return null;
    const first = found.actions.find((action) => action.actionType === 'sale' || action.actionType === 'auth');
    const amountCents = amountCentsOf(first);
    const collected = found.actions
      .filter((action) => action.success && (action.actionType === 'sale' || action.actionType === 'capture'))
      .reduce((sum, action) => sum + amountCentsOf(action), 0);
    const status = conditionStatus(found.condition, first?.actionType === 'auth' && collected === 0);
    return {
      ...this.settled(found.transactionId, 'succeeded', collected),
      status,
      amountCents,
      amountCapturableCents: status === 'authorized' ? amountCents : 0,
      customerId: found.customerVaultId || null,
    };
  }

  /**
   * The approved `sale`, `auth` or `refund` NMI recorded with this orderid, if any (Query API, by `order_id`).
   * A query that fails is a GatewayUnavailableError: whether the transaction exists is unknown, so nothing
   * is sent again until NMI can say.
   */
  async findApproved(orderId: string, type: 'sale' | 'auth' | 'refund'): Promise<NmiQueryTransaction | null> {
    const transactions = await this.query({ order_id: orderId });
    return (
      transactions.find(
        (transaction) =>
          transaction.orderId === orderId &&
          transaction.transactionId !== '' &&
          !NOT_MADE.includes(transaction.condition) &&
          transaction.actions.some((action) => action.actionType === type && action.success),
      ) ?? null
    );
  }

  /**
   * The refund NMI made with this orderid (the refund's key), if any: a refund is a transaction of its own at NMI,
   * with the orderid it was sent with and a `refund` action.
   */
  async findRefund(input: Pick<ReferenceInput, 'idempotencyKey'>): Promise<RefundResult | null> {
    const found = await this.findApproved(input.idempotencyKey, 'refund');
    const refund = found?.actions.find((action) => action.actionType === 'refund' && action.success);
    return found && refund
      ? { id: found.transactionId, status: 'succeeded', amountCents: amountCentsOf(refund) }
      : null;
  }

  retrieveSetupIntent(): Promise<SetupIntentResult | null> {
    return Promise.reject(new GatewayUnsupportedError('nmi', 'SetupIntents'));
  }

  parseWebhook(): GatewayWebhookEvent {
    throw new GatewayUnsupportedError('nmi', 'webhooks');
  }

  /** A transaction found by the Query API, answered as `authorize` would have answered it. */
  private fromQuery(found: NmiQueryTransaction, input: AuthorizeInput): PaymentResult {
    const vaultId =
      'token' in input.source
        ? input.source.saveForLater
          ? found.customerVaultId
          : ''
        : (input.source.savedMethod.customerId ?? '');
    return {
      id: found.transactionId,
      clientSecret: null,
      status: input.captureLater ? 'authorized' : 'succeeded',
      amountCents: input.amountCents,
      amountCapturableCents: input.captureLater ? input.amountCents : 0,
      amountReceivedCents: input.captureLater ? 0 : input.amountCents,
      amountRefundedCents: 0,
      currency: input.currency,
      customerId: vaultId || null,
      paymentMethodId: null,
      captureBefore: null,
      failureMessage: null,
      metadata: input.metadata,
      saved: 'token' in input.source && vaultId ? { gateway: 'nmi', customerId: vaultId, paymentMethodId: null } : null,
    };
  }

  private async query(fields: Record<string, string>): Promise<NmiQueryTransaction[]> {
    const url = this.options.queryUrl ?? nmiQueryUrl(this.options.apiUrl);
    const body = new URLSearchParams({ security_key: this.options.securityKey, ...fields });
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      throw new GatewayUnavailableError(
        'nmi',
        `NMI's Query API is unreachable: ${error instanceof Error ? error.name : 'error'}`,
      );
    }
    const text = await response.text().catch(() => '');
    if (!response.ok) throw new GatewayUnavailableError('nmi', `NMI's Query API answered HTTP ${response.status}`);
    try {
      return parseNmiQueryResponse(text);
    } catch (error) {
      // Whether the transaction exists is unknown: the caller must not charge again.
      throw new GatewayUnavailableError(
        'nmi',
        `NMI's Query API gave no usable answer: ${error instanceof Error ? error.message.slice(0, 200) : 'error'}`,
      );
    }
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

/** A Query API `condition` as our normalized status. */
function conditionStatus(condition: string, heldOnly: boolean): PaymentResult['status'] {
  switch (condition) {
    case 'pending':
      return heldOnly ? 'authorized' : 'processing';
    case 'pendingsettlement':
    case 'complete':
      return heldOnly ? 'authorized' : 'succeeded';
    case 'canceled':
      return 'canceled';
    case 'failed':
      return 'failed';
    default:
      return 'processing';
  }
}
