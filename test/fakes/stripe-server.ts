import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { formArray, parseForm } from './form.ts';
import { FAKE_GATEWAY_TIMEOUT_MS } from './gateway-timeout.ts';

/**
 * A stateful, local, Stripe-compatible HTTP server for tests: the official SDK talks to it through
 * STRIPE_API_URL. It keeps customers, SetupIntents, PaymentIntents (confirmation, manual capture incl.
 * partial, cancel), charges and refunds; declines cards; answers 5xx or slowly on demand; replays a
 * request with an Idempotency-Key already seen; counts calls; and signs webhook events.
 */

export const FAKE_STRIPE_SECRET_KEY = 'sk_test_fake_care360';
export const FAKE_STRIPE_WEBHOOK_SECRET = 'whsec_fake_care360';

/** A payment method id that the fake declines, like Stripe's test card pm_card_chargeDeclined. */
export const DECLINED_PAYMENT_METHOD = 'pm_card_chargeDeclined';

type Json = Record<string, unknown>;

export interface RecordedCall {
  /** The secret key the call was made with (which Stripe account). */
  secretKey?: string;
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  replayed: boolean;
}

interface StoredReply {
  status: number;
  body: Json;
  /** The request body the key was first used with. */
  request?: string;
}

interface Injection {
  match: (method: string, path: string) => boolean;
  remaining: number;
  status?: number;
  /** Processed as usual, then the answer is lost (the connection cut) or never sent (the client must give up). */
  answer?: 'lost' | 'stalled';
}

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;
const now = () => Math.floor(Date.now() / 1000);

class StripeFakeError extends Error {
  constructor(
    readonly status: number,
    readonly error: Json,
  ) {
    super(String(error.message));
  }
}

export class FakeStripeServer {
  readonly calls: RecordedCall[] = [];
  readonly customers = new Map<string, Json>();
  readonly setupIntents = new Map<string, Json>();
  readonly paymentIntents = new Map<string, Json>();
  readonly charges = new Map<string, Json>();
  readonly refunds = new Map<string, Json>();
  private readonly idempotent = new Map<string, StoredReply>();
  /** Secret keys of the accounts this fake answers; others are refused as Stripe refuses them (401). */
  readonly secretKeys = new Set([FAKE_STRIPE_SECRET_KEY]);
  private readonly injections: Injection[] = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  /** The environment that points the app's Stripe gateway here. */
  environment(extra: Record<string, string> = {}): Record<string, string> {
    return {
      STRIPE_SECRET_KEY: FAKE_STRIPE_SECRET_KEY,
      STRIPE_WEBHOOK_SECRET: FAKE_STRIPE_WEBHOOK_SECRET,
      STRIPE_API_URL: this.url,
      STRIPE_MAX_NETWORK_RETRIES: '0',
      STRIPE_TIMEOUT_MS: FAKE_GATEWAY_TIMEOUT_MS,
      ...extra,
    };
  }

  /** Calls matching a method and a path prefix (e.g. 'POST', '/v1/payment_intents'), replays included. */
  count(method: string, pathPrefix: string, options: { includeReplays?: boolean } = {}): number {
    return this.calls.filter(
      (call) =>
        call.method === method &&
        call.path.startsWith(pathPrefix) &&
        (options.includeReplays !== false || !call.replayed),
    ).length;
  }

  /** The next `times` matching requests answer `status` (default 500) without doing anything. */
  failNext(options: { method?: string; pathPrefix?: string; status?: number; times?: number } = {}): void {
    this.injections.push({
      match: this.matcher(options.method, options.pathPrefix),
      remaining: options.times ?? 1,
      status: options.status ?? 500,
    });
  }

  /**
   * What Stripe does to idempotency keys once they are a day old: prunes them, so a replayed key is a new request.
   * All of them, or those that contain `part`.
   */
  forgetIdempotencyKeys(part = ''): void {
    for (const key of [...this.idempotent.keys()]) if (key.includes(part)) this.idempotent.delete(key);
  }

  /** What a bank may do to a refund after Stripe made it: Stripe marks it failed and gives its amount back to the charge. */
  failRefund(refundId: string): void {
    const refund = this.refunds.get(refundId);
    const charge = refund && this.charges.get(String(refund.charge));
    if (!refund || !charge) throw new Error(`no refund ${refundId}`);
    refund.status = 'failed';
    charge.amount_refunded = Number(charge.amount_refunded) - Number(refund.amount);
    charge.refunded = false;
  }

  /**
   * The next `times` matching calls are processed as usual, but their answers never reach the client: the
   * connection is cut, so the client learns nothing of the outcome, as after a timeout, on any machine. The SDK
   * sends a call whose connection closed once more, whatever its retry setting (stripe-node's
   * RequestSender._shouldRetry), so each call is two requests here: the second (a replay) is lost too.
   */
  loseNextAnswer(options: { method?: string; pathPrefix?: string; times?: number } = {}): void {
    this.injections.push({
      match: this.matcher(options.method, options.pathPrefix),
      remaining: 2 * (options.times ?? 1),
      answer: 'lost',
    });
  }

  /** The next matching request is processed as usual and never answered: the client's own timeout ends it. */
  stallNext(options: { method?: string; pathPrefix?: string } = {}): void {
    this.injections.push({ match: this.matcher(options.method, options.pathPrefix), remaining: 1, answer: 'stalled' });
  }

  /** What the browser does with Stripe.js: confirm a SetupIntent with a card. */
  confirmSetupIntent(setupIntentId: string, paymentMethod = 'pm_card_visa'): Json {
    const intent = this.require(this.setupIntents, setupIntentId, 'setup_intent');
    if (paymentMethod === DECLINED_PAYMENT_METHOD) {
      intent.status = 'requires_payment_method';
      intent.last_setup_error = { type: 'card_error', code: 'card_declined', message: 'Your card was declined.' };
    } else {
      intent.status = 'succeeded';
      intent.payment_method = `${paymentMethod}_${randomBytes(4).toString('hex')}`;
      intent.last_setup_error = null;
    }
    return intent;
  }

  /** What the browser does with Stripe.js: confirm a PaymentIntent (succeeds, or is held when manual). */
  confirmPaymentIntent(paymentIntentId: string, paymentMethod = 'pm_card_visa'): Json {
    const intent = this.require(this.paymentIntents, paymentIntentId, 'payment_intent');
    this.confirm(intent, paymentMethod);
    return intent;
  }

  /** A signed webhook delivery for an event about `object`, as Stripe would POST it. */
  webhook(
    type: string,
    object: Json,
    options: { eventId?: string; secret?: string } = {},
  ): { payload: string; signature: string; eventId: string } {
    const eventId = options.eventId ?? id('evt');
    const payload = JSON.stringify({
      id: eventId,
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: now(),
      type,
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      data: { object: structuredClone(object) },
    });
    const signature = Stripe.webhooks.generateTestHeaderString({
      payload,
      secret: options.secret ?? FAKE_STRIPE_WEBHOOK_SECRET,
    });
    return { payload, signature, eventId };
  }

  /** Opens a dispute on a PaymentIntent's charge and returns the dispute object (for webhook tests). */
  dispute(paymentIntentId: string, status: 'needs_response' | 'lost' | 'won' = 'needs_response'): Json {
    const intent = this.require(this.paymentIntents, paymentIntentId, 'payment_intent');
    return {
      id: id('dp'),
      object: 'dispute',
      amount: intent.amount_received,
      charge: intent.latest_charge,
      payment_intent: intent.id,
      status,
      currency: intent.currency,
      created: now(),
    };
  }

  private matcher(method: string | undefined, pathPrefix: string | undefined) {
    return (m: string, p: string) => (!method || method === m) && (!pathPrefix || p.startsWith(pathPrefix));
  }

  private takeInjection(method: string, path: string): Injection | undefined {
    const injection = this.injections.find((candidate) => candidate.remaining > 0 && candidate.match(method, path));
    if (injection) injection.remaining -= 1;
    return injection;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const method = request.method ?? 'GET';
    const url = new URL(request.url ?? '/', 'http://fake');
    const path = url.pathname;
    const header = request.headers['idempotency-key'];
    const idempotencyKey = Array.isArray(header) ? header[0] : header;
    const send = (status: number, body: Json, replayed = false) => {
      response.writeHead(status, {
        'content-type': 'application/json',
        'request-id': id('req'),
        ...(replayed ? { 'idempotent-replayed': 'true' } : {}),
        ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
      });
      response.end(JSON.stringify(body));
    };

    const secretKey = (request.headers.authorization ?? '').replace(/^Bearer /, '');
    if (!this.secretKeys.has(secretKey)) {
      this.calls.push({ method, path, idempotencyKey, replayed: false });
      return send(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
    }

    const injection = this.takeInjection(method, path);
    if (injection?.status) {
      this.calls.push({ method, path, idempotencyKey, replayed: false });
      return send(injection.status, { error: { type: 'api_error', message: 'An unknown error occurred (fake)' } });
    }

    const stored = idempotencyKey && method === 'POST' ? this.idempotent.get(idempotencyKey) : undefined;
    this.calls.push({ secretKey, method, path, idempotencyKey, replayed: Boolean(stored) });
    const requestBody = Buffer.concat(chunks).toString('utf8');
    let reply: StoredReply;
    if (stored && stored.request !== requestBody) {
      // As Stripe: a key replayed with other parameters is refused, and the first answer stays the key's.
      reply = {
        status: 400,
        body: {
          error: {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
          },
        },
      };
    } else if (stored) {
      reply = stored;
    } else {
      const params = method === 'GET' ? parseForm(url.search.slice(1)) : parseForm(requestBody);
      try {
        reply = { status: 200, body: this.route(method, path, params) };
      } catch (error) {
        if (!(error instanceof StripeFakeError)) throw error;
        reply = { status: error.status, body: { error: error.error } };
      }
      // Stripe keeps the first answer for a key (also an error, except 5xx) and replays it.
      if (idempotencyKey && method === 'POST') this.idempotent.set(idempotencyKey, { ...reply, request: requestBody });
    }
    if (injection?.answer === 'lost') request.socket.destroy();
    else if (injection?.answer !== 'stalled' && !response.destroyed) send(reply.status, reply.body, Boolean(stored));
  }

  private route(method: string, path: string, params: Json): Json {
    const parts = path.split('/').filter(Boolean); // ['v1', 'payment_intents', 'pi_x', 'capture']
    const [version, resource, objectId, action] = parts;
    if (version !== 'v1') throw this.notFound(path);
    const expand = formArray(params.expand);

    if (resource === 'customers' && method === 'POST' && !objectId) {
      const customer = { id: id('cus'), object: 'customer', created: now(), metadata: params.metadata ?? {} };
      this.customers.set(customer.id, customer);
      return customer;
    }

    if (resource === 'setup_intents') {
      if (method === 'POST' && !objectId) {
        const intentId = id('seti');
        const intent: Json = {
          id: intentId,
          object: 'setup_intent',
          client_secret: `${intentId}_secret_${randomBytes(12).toString('hex')}`,
          status: 'requires_payment_method',
          customer: params.customer ?? null,
          payment_method: null,
          usage: params.usage ?? 'off_session',
          metadata: params.metadata ?? {},
          last_setup_error: null,
          created: now(),
        };
        this.setupIntents.set(intentId, intent);
        return intent;
      }
      if (method === 'GET' && objectId && !action) return this.require(this.setupIntents, objectId, 'setup_intent');
      if (method === 'POST' && objectId && action === 'confirm') {
        return this.confirmSetupIntent(objectId, String(params.payment_method ?? 'pm_card_visa'));
      }
    }

    if (resource === 'payment_intents') {
      if (method === 'POST' && !objectId) return this.view(this.createPaymentIntent(params), expand);
      if (objectId && method === 'GET' && !action) {
        return this.view(this.require(this.paymentIntents, objectId, 'payment_intent'), expand);
      }
      if (objectId && method === 'POST' && action === 'confirm') {
        const intent = this.require(this.paymentIntents, objectId, 'payment_intent');
        const paymentMethod = String(params.payment_method ?? intent.payment_method ?? 'pm_card_visa');
        this.confirm(intent, paymentMethod);
        if (intent.status === 'requires_payment_method') {
          throw new StripeFakeError(402, {
            type: 'card_error',
            code: 'card_declined',
            message: 'Your card was declined.',
            payment_intent: structuredClone(intent),
          });
        }
        return this.view(intent, expand);
      }
      if (objectId && method === 'POST' && action === 'capture') {
        return this.view(this.capture(this.require(this.paymentIntents, objectId, 'payment_intent'), params), expand);
      }
      if (objectId && method === 'POST' && action === 'cancel') {
        const intent = this.require(this.paymentIntents, objectId, 'payment_intent');
        if (intent.status === 'succeeded' || intent.status === 'canceled') {
          throw this.invalid(
            `You cannot cancel this PaymentIntent because it has a status of ${String(intent.status)}.`,
            'payment_intent_unexpected_state',
          );
        }
        intent.status = 'canceled';
        intent.amount_capturable = 0;
        intent.canceled_at = now();
        return this.view(intent, expand);
      }
    }

    if (resource === 'refunds' && method === 'POST' && !objectId) {
      const intent = this.require(this.paymentIntents, String(params.payment_intent), 'payment_intent');
      const charge = this.charges.get(String(intent.latest_charge));
      if (!charge || intent.status !== 'succeeded') {
        throw this.invalid('This PaymentIntent does not have a successful charge to refund.', 'charge_not_refundable');
      }
      const refundable = Number(charge.amount_captured) - Number(charge.amount_refunded);
      const amount = params.amount === undefined ? refundable : Number(params.amount);
      if (amount <= 0 || amount > refundable)
        throw this.invalid('Refund amount is greater than unrefunded amount.', 'amount_too_large');
      charge.amount_refunded = Number(charge.amount_refunded) + amount;
      charge.refunded = charge.amount_refunded === charge.amount_captured;
      const refund = {
        id: id('re'),
        object: 'refund',
        amount,
        charge: charge.id,
        payment_intent: intent.id,
        status: 'succeeded',
        currency: intent.currency,
        created: now(),
        metadata: params.metadata ?? {},
      };
      this.refunds.set(refund.id, refund);
      return refund;
    }

    if (resource === 'refunds' && method === 'GET' && !objectId) {
      // Newest first, as Stripe lists; one page is all a test makes.
      const data = [...this.refunds.values()]
        .filter((refund) => params.payment_intent === undefined || refund.payment_intent === params.payment_intent)
        .reverse();
      return { object: 'list', data, has_more: false, url: '/v1/refunds' };
    }

    throw this.notFound(path);
  }

  private createPaymentIntent(params: Json): Json {
    const amount = Number(params.amount);
    if (!Number.isInteger(amount) || amount < 50) {
      throw this.invalid('Amount must be at least $0.50 usd', 'amount_too_small', 'amount');
    }
    const intentId = id('pi');
    const intent: Json = {
      id: intentId,
      object: 'payment_intent',
      amount,
      amount_capturable: 0,
      amount_received: 0,
      currency: String(params.currency ?? 'usd'),
      capture_method: params.capture_method ?? 'automatic_async',
      client_secret: `${intentId}_secret_${randomBytes(12).toString('hex')}`,
      customer: params.customer ?? null,
      description: params.description ?? null,
      payment_method: params.payment_method ?? null,
      payment_method_types: formArray(params.allowed_payment_method_types ?? params.payment_method_types).length
        ? formArray(params.allowed_payment_method_types ?? params.payment_method_types)
        : ['card'],
      metadata: params.metadata ?? {},
      status: params.payment_method ? 'requires_confirmation' : 'requires_payment_method',
      latest_charge: null,
      last_payment_error: null,
      canceled_at: null,
      created: now(),
    };
    this.paymentIntents.set(intentId, intent);
    if (params.confirm === 'true') {
      if (!params.payment_method)
        throw this.invalid('You must provide a payment method to confirm.', 'payment_intent_unexpected_state');
      this.confirm(intent, String(params.payment_method));
      if (intent.status === 'requires_payment_method') {
        throw new StripeFakeError(402, {
          type: 'card_error',
          code: 'card_declined',
          decline_code: 'generic_decline',
          message: 'Your card was declined.',
          payment_intent: structuredClone(intent),
        });
      }
    }
    return intent;
  }

  private confirm(intent: Json, paymentMethod: string): void {
    intent.payment_method = paymentMethod;
    if (paymentMethod.startsWith(DECLINED_PAYMENT_METHOD)) {
      intent.status = 'requires_payment_method';
      intent.last_payment_error = { type: 'card_error', code: 'card_declined', message: 'Your card was declined.' };
      return;
    }
    const manual = intent.capture_method === 'manual';
    const chargeId = id('ch');
    const charge: Json = {
      id: chargeId,
      object: 'charge',
      amount: intent.amount,
      amount_captured: manual ? 0 : intent.amount,
      amount_refunded: 0,
      captured: !manual,
      refunded: false,
      payment_intent: intent.id,
      currency: intent.currency,
      payment_method_details: {
        type: 'card',
        card: { brand: 'visa', last4: '4242', capture_before: manual ? now() + 7 * 86_400 : null },
      },
      created: now(),
    };
    this.charges.set(chargeId, charge);
    intent.latest_charge = chargeId;
    intent.last_payment_error = null;
    if (manual) {
      intent.status = 'requires_capture';
      intent.amount_capturable = intent.amount;
    } else {
      intent.status = 'succeeded';
      intent.amount_received = intent.amount;
    }
  }

  private capture(intent: Json, params: Json): Json {
    if (intent.status !== 'requires_capture') {
      throw this.invalid(
        `This PaymentIntent could not be captured because it has a status of ${String(intent.status)}.`,
        'payment_intent_unexpected_state',
      );
    }
    const capturable = Number(intent.amount_capturable);
    const amount = params.amount_to_capture === undefined ? capturable : Number(params.amount_to_capture);
    if (amount <= 0 || amount > capturable) {
      throw this.invalid(
        'The amount to capture must be less than or equal to the amount capturable.',
        'amount_too_large',
        'amount_to_capture',
      );
    }
    const charge = this.charges.get(String(intent.latest_charge))!;
    charge.amount_captured = amount;
    charge.captured = true;
    intent.amount_received = amount;
    intent.amount_capturable = 0;
    intent.status = 'succeeded';
    return intent;
  }

  private view(intent: Json, expand: string[]): Json {
    const copy = structuredClone(intent);
    if (expand.includes('latest_charge') && typeof copy.latest_charge === 'string') {
      copy.latest_charge = structuredClone(this.charges.get(copy.latest_charge) ?? null);
    }
    return copy;
  }

  private require(map: Map<string, Json>, objectId: string, kind: string): Json {
    const object = map.get(objectId);
    if (!object) {
      throw new StripeFakeError(404, {
        type: 'invalid_request_error',
        code: 'resource_missing',
        message: `No such ${kind}: '${objectId}'`,
        param: 'intent',
      });
    }
    return object;
  }

  private invalid(message: string, code: string, param?: string): StripeFakeError {
    return new StripeFakeError(400, { type: 'invalid_request_error', code, message, ...(param ? { param } : {}) });
  }

  private notFound(path: string): StripeFakeError {
    return new StripeFakeError(404, { type: 'invalid_request_error', message: `Unrecognized request URL (${path}).` });
  }
}

export async function startFakeStripe(): Promise<FakeStripeServer> {
  return new FakeStripeServer().start();
}
