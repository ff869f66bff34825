import type { PaymentsConfig } from '../../../config.ts';
import type { Queryable } from '../../../db/database.ts';
import { NmiGateway } from './nmi.ts';
import { SimulatedGateway } from './simulated.ts';
import { StripeGateway } from './stripe.ts';
import type { PaymentGateway } from './types.ts';

export interface Gateways {
  /** Stripe, or the simulated gateway when no STRIPE_SECRET_KEY is set. */
  card: PaymentGateway;
  /** NMI when NMI_SECURITY_KEY is set; in fully simulated mode, the simulated gateway; else null. */
  nmi: PaymentGateway | null;
  /** Every gateway by name, to settle a record with the gateway that created it. */
  byName: Partial<Record<PaymentGateway['name'], PaymentGateway>>;
  simulated: boolean;
}

export function createGateways(config: PaymentsConfig, db: Queryable): Gateways {
  const card: PaymentGateway = config.stripeSecretKey
    ? new StripeGateway({
        secretKey: config.stripeSecretKey,
        webhookSecret: config.stripeWebhookSecret,
        apiUrl: config.stripeApiUrl,
        timeoutMs: config.stripeTimeoutMs,
        maxNetworkRetries: config.stripeMaxNetworkRetries,
      })
    : new SimulatedGateway(db);
  const simulated = card.name === 'simulated';
  const nmi: PaymentGateway | null = config.nmiSecurityKey
    ? new NmiGateway({
        securityKey: config.nmiSecurityKey,
        apiUrl: config.nmiApiUrl,
        queryUrl: config.nmiQueryUrl,
        timeoutMs: config.nmiTimeoutMs,
      })
    : simulated
      ? card
      : null;
  const byName: Gateways['byName'] = { [card.name]: card };
  if (nmi) byName[nmi.name] = nmi;
  return { card, nmi, byName, simulated };
}
