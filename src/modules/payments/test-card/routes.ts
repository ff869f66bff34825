import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Queryable } from '../../../db/database.ts';
import { projectPath } from '../../../paths.ts';
import { cardProblem, TEST_CARDS, type CardOutcome } from './cards.ts';

/** Where the test card element's script is served (in simulated mode only); docs/api/payments.md. */
export const TEST_CARD_ELEMENT_PATH = '/payments/test-card.js';
/** Where the element confirms a SetupIntent or PaymentIntent with the card typed into it. */
export const TEST_CARD_CONFIRM_PATH = '/payments/test-card/confirm';

/** A simulated hold lasts as long as the simulated gateway's own (simulated.ts). */
const HOLD_DAYS = 7;

interface IntentRow {
  id: string;
  kind: 'setup_intent' | 'payment_intent';
  client_secret: string | null;
  status: string;
  amount_cents: number | null;
  currency: string;
  capture_method: string | null;
  payment_method_id: string | null;
  used: boolean;
}

const confirmBody = z.object({
  clientSecret: z.string().min(1).max(300),
  card: z.object({ number: z.string().max(40), expiry: z.string().max(10), cvc: z.string().max(10) }),
  /** The patient's answer to the authentication challenge of a card that asks for one. */
  authentication: z.enum(['complete', 'fail']).optional(),
});

function sameSecret(given: string, stored: string | null): boolean {
  if (stored === null) return false;
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(stored));
}

/** The intent as Stripe.js hands it back (snake_case, Stripe's status names). */
function stripeShaped(row: IntentRow, status: string): Record<string, unknown> {
  return row.kind === 'setup_intent'
    ? { id: row.id, object: 'setup_intent', status, payment_method: row.payment_method_id }
    : {
        id: row.id,
        object: 'payment_intent',
        status,
        amount: row.amount_cents,
        currency: row.currency,
        payment_method: row.payment_method_id,
      };
}

const resultKey = (row: IntentRow) => (row.kind === 'setup_intent' ? 'setupIntent' : 'paymentIntent');
const objectName = (row: IntentRow) => (row.kind === 'setup_intent' ? 'SetupIntent' : 'PaymentIntent');

/**
 * The simulated gateway's card element (a stand-in for Stripe.js, registered only when no STRIPE_SECRET_KEY is set):
 * its script, and the confirmation it sends with the card typed into it. A confirmation moves the simulated
 * SetupIntent or PaymentIntent the way Stripe's would: a declined card leaves it unconfirmed (the intake then
 * refuses it), a good card confirms it, a card that asks for authentication answers `requiresAction` first.
 * The client secret authorizes the call, as with Stripe.js. No money moves.
 */
export function testCardRoutes(db: Queryable): FastifyPluginAsyncZod {
  const script = readFileSync(projectPath('src', 'modules', 'payments', 'test-card', 'element.js'), 'utf8');

  async function settle(row: IntentRow, outcome: 'confirmed' | 'unconfirmed'): Promise<string> {
    if (outcome === 'unconfirmed') {
      await db.query(
        `update simulated_gateway_objects
            set status = 'pending', amount_received_cents = 0, amount_capturable_cents = 0, capture_before = null,
                updated_at = now()
          where id = $1`,
        [row.id],
      );
      return 'requires_payment_method';
    }
    if (row.kind === 'setup_intent') {
      await db.query(`update simulated_gateway_objects set status = 'succeeded', updated_at = now() where id = $1`, [
        row.id,
      ]);
      return 'succeeded';
    }
    const hold = row.capture_method === 'manual';
    await db.query(
      `update simulated_gateway_objects
          set status = $2, amount_received_cents = $3, amount_capturable_cents = $4, capture_before = $5,
              updated_at = now()
        where id = $1`,
      [
        row.id,
        hold ? 'authorized' : 'succeeded',
        hold ? 0 : row.amount_cents,
        hold ? row.amount_cents : 0,
        hold ? new Date(Date.now() + HOLD_DAYS * 86_400_000) : null,
      ],
    );
    return hold ? 'requires_capture' : 'succeeded';
  }

  return async (app) => {
    app.get(TEST_CARD_ELEMENT_PATH, { schema: { hide: true } }, async (_request, reply) =>
      reply.type('text/javascript; charset=utf-8').send(script),
    );

    app.post(TEST_CARD_CONFIRM_PATH, { schema: { hide: true, body: confirmBody } }, async (request, reply) => {
      const { clientSecret, card, authentication } = request.body;
      const id = clientSecret.split('_secret_')[0] ?? '';
      const { rows } = await db.query<IntentRow>(
        `select o.id, o.kind, o.client_secret, o.status, o.amount_cents, o.currency, o.capture_method,
                o.payment_method_id,
                exists (select 1 from cases c where c.stripe_setup_id = o.id or c.stripe_payment_id = o.id) as used
           from simulated_gateway_objects o
          where o.id = $1`,
        [id],
      );
      const row = rows[0];
      if (!row || !sameSecret(clientSecret, row.client_secret)) {
        return reply.code(404).send({
          error: { type: 'invalid_request_error', code: 'resource_missing', message: 'No such client secret' },
        });
      }
      if (row.used) {
        return reply.code(400).send({
          error: {
            type: 'invalid_request_error',
            code: `${row.kind}_unexpected_state`,
            message: `This ${objectName(row)} was already used to create a case.`,
          },
        });
      }
      const problem = cardProblem(card);
      if (problem) return reply.code(400).send({ error: { type: 'validation_error', ...problem } });

      const digits = card.number.replace(/[\s-]/g, '');
      let outcome: CardOutcome = TEST_CARDS[digits]?.outcome ?? { kind: 'succeeds' };
      if (outcome.kind === 'authentication') {
        if (authentication === undefined) {
          await settle(row, 'unconfirmed');
          return { requiresAction: true, [resultKey(row)]: stripeShaped(row, 'requires_action') };
        }
        if (authentication === 'fail') {
          outcome = {
            kind: 'declined',
            code: `${row.kind}_authentication_failure`,
            message:
              'We are unable to authenticate your payment method. Please choose a different payment method and try again.',
          };
        } else {
          outcome = { kind: 'succeeds' };
        }
      }
      if (outcome.kind === 'declined') {
        const status = await settle(row, 'unconfirmed');
        return reply.code(402).send({
          error: {
            type: 'card_error',
            code: outcome.code,
            ...(outcome.declineCode ? { decline_code: outcome.declineCode } : {}),
            message: outcome.message,
            [row.kind]: stripeShaped(row, status),
          },
        });
      }
      const status = await settle(row, 'confirmed');
      return { [resultKey(row)]: stripeShaped(row, status) };
    });
  };
}
