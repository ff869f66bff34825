import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { PaymentsConfig } from '../../config.ts';
import { TEST_CARD_ELEMENT_PATH } from './test-card/routes.ts';
import { errorResponses } from '../../http/envelopes.ts';
import type { GatewayDirectory } from './credentials.ts';

/** `live` or `test` after the Stripe secret key's prefix; `simulated` without one. */
export function stripeMode(config: PaymentsConfig): 'live' | 'test' | 'simulated' {
  if (!config.stripeSecretKey) return 'simulated';
  return /^(sk|rk)_live_/.test(config.stripeSecretKey) ? 'live' : 'test';
}

export const configSchema = z.object({
  success: z.literal(true),
  data: z.object({
    stripe: z.object({
      mode: z
        .enum(['live', 'test', 'simulated'])
        .describe('simulated: no Stripe account is configured; use the test card element below instead of Stripe.js'),
      publishableKey: z
        .string()
        .nullable()
        .describe('The key for Stripe.js (loadStripe) and Stripe Elements; null when not configured'),
      testCardElement: z
        .string()
        .nullable()
        .describe("In simulated mode, the path of care360's test card element script (a stand-in for Stripe.js)"),
    }),
    nmi: z.object({
      tokenizationKey: z
        .string()
        .nullable()
        .describe('The public key for NMI Collect.js (data-tokenization-key); null when not configured'),
    }),
  }),
});

/** The answer for one set of payment settings: the server's, or an organization's own accounts over them. */
function configBody(config: PaymentsConfig) {
  const mode = stripeMode(config);
  return {
    success: true as const,
    data: {
      stripe: {
        mode,
        publishableKey: config.stripePublishableKey ?? null,
        testCardElement: mode === 'simulated' ? TEST_CARD_ELEMENT_PATH : null,
      },
      nmi: { tokenizationKey: config.nmiTokenizationKey ?? null },
    },
  };
}

/**
 * GET /api/v1/payments/config: the publishable keys a storefront's browser needs to take a card for the caller's
 * organization: those of its own Stripe or NMI account when it has one (admin API `payment-gateways`), else the
 * server's STRIPE_PUBLISHABLE_KEY and NMI_TOKENIZATION_KEY.
 */
export function paymentConfigRoutes(config: PaymentsConfig, gateways: GatewayDirectory): FastifyPluginAsyncZod {
  return async (app) => {
    if (config.stripeSecretKey && !config.stripePublishableKey) {
      app.log.warn('STRIPE_SECRET_KEY is set without STRIPE_PUBLISHABLE_KEY: storefronts cannot load Stripe Elements');
    }

    app.get(
      '/api/v1/payments/config',
      {
        config: { auth: 'apiKey', envelope: 'payments' },
        schema: {
          tags: ['payments'],
          summary: 'The publishable keys a storefront uses to take a card (Stripe.js, NMI Collect.js)',
          description:
            "Which key to give Stripe.js (`loadStripe`) and NMI Collect.js in the patient's browser for payments " +
            'made through this server. Publishable keys are public; the API key never goes to a browser.',
          security: [{ apiKey: [] }],
          response: {
            200: configSchema,
            ...errorResponses('payments', [401]),
          },
        },
      },
      async (request) => configBody((await gateways.resolve(request.scope.tenant.organizationId)).config),
    );
  };
}
