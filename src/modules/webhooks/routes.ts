import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { StripeWebhookService } from './stripe-webhooks.ts';
import { errorResponses } from '../../http/envelopes.ts';
import { organizationPathParams, textParam } from '../../http/parameters.ts';

const stripeSignature = z.object({ 'stripe-signature': textParam('stripeSignature').optional() }).loose();
const received = z.object({
  received: z.literal(true),
  outcome: z.enum(['applied', 'unchanged', 'ignored', 'duplicate']),
});

/**
 * POST /webhooks/stripe (the server's Stripe account) and /webhooks/stripe/:organizationId (an organization's
 * own account): one handler, which differs only in the secret the event is verified with. The signature covers
 * the exact bytes Stripe sent, so this plugin (and only it) reads every body as a raw Buffer instead of parsing
 * JSON.
 */
export function webhookRoutes(webhooks: StripeWebhookService): FastifyPluginAsyncZod {
  return async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    const accounts = [
      {
        url: '/webhooks/stripe',
        summary:
          'Stripe events (signed with STRIPE_WEBHOOK_SECRET): payment_intent.*, setup_intent.*, charge.refunded, charge.dispute.*',
        description:
          'Point the server account’s Stripe webhook here; its events apply only to organizations without their ' +
          'own Stripe account. A bad or missing Stripe-Signature is 400; a redelivered event answers outcome ' +
          '"duplicate", one about an object this server did not create "ignored". See docs/api/payments.md.',
        params: z.object({}),
      },
      {
        url: '/webhooks/stripe/:organizationId',
        summary: "Stripe events of an organization's own Stripe account (signed with its own webhook secret)",
        description:
          'Point the organization’s own Stripe webhook here once its stripeSecretKey and stripeWebhookSecret are ' +
          'set (admin API payment-gateways); its events apply only to that organization. 400 when the organization ' +
          'has no Stripe account of its own, or the signature does not verify.',
        params: organizationPathParams,
      },
    ];
    for (const account of accounts) {
      app.post(
        account.url,
        {
          config: { envelope: 'payments' },
          schema: {
            tags: ['webhooks'],
            summary: account.summary,
            description: account.description,
            ...(account.url.includes(':') ? { params: account.params } : {}),
            headers: stripeSignature,
            response: { 200: received, ...errorResponses('payments', [400]) },
          },
        },
        async (request) => {
          const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
          const header = request.headers['stripe-signature'];
          const { organizationId } = request.params as { organizationId?: string };
          const outcome = await webhooks.handle(body, Array.isArray(header) ? header[0] : header, organizationId);
          return { received: true as const, outcome };
        },
      );
    }
  };
}
