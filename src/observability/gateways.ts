import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { Gateways } from '../modules/payments/gateways/index.ts';
import {
  GatewayRequestError,
  GatewayUnavailableError,
  type PaymentGateway,
} from '../modules/payments/gateways/types.ts';
import type { Observability } from './index.ts';
import type { GatewayOutcome } from './metrics.ts';

/** The calls that go to the provider over the network (parseWebhook is local). */
const REMOTE_OPERATIONS = [
  'createSetupIntent',
  'createPaymentIntent',
  'authorize',
  'saveToken',
  'capture',
  'cancel',
  'refund',
  'retrievePayment',
  'retrieveSetupIntent',
] as const satisfies readonly (keyof PaymentGateway)[];

function outcomeOf(result: unknown): GatewayOutcome {
  const status = (result as { status?: unknown } | null)?.status;
  return status === 'failed' || status === 'declined' ? 'declined' : 'ok';
}

function failureOutcome(error: unknown): GatewayOutcome {
  if (error instanceof GatewayUnavailableError) return 'unavailable';
  if (error instanceof GatewayRequestError) return 'rejected';
  return 'error';
}

/**
 * Each gateway with its calls timed by gateway, operation and outcome (metrics) and traced (a client span
 * per call), when either is on. The labels and attributes are the names of things, never an amount, an id
 * or a card token.
 */
export function observeGateways(gateways: Gateways, observability: Observability): Gateways {
  const { metrics, tracer } = observability;
  if (!metrics && !tracer) return gateways;
  const observed = new Map<PaymentGateway, PaymentGateway>();
  const observe = (gateway: PaymentGateway): PaymentGateway => {
    const known = observed.get(gateway);
    if (known) return known;
    const wrapper = Object.create(gateway) as PaymentGateway;
    for (const operation of REMOTE_OPERATIONS) {
      const call = (gateway[operation] as (...args: unknown[]) => Promise<unknown>).bind(gateway);
      const timed = async (...args: unknown[]) => {
        const started = performance.now();
        const record = (outcome: GatewayOutcome) =>
          metrics?.gatewayCall(gateway.name, operation, outcome, (performance.now() - started) / 1000);
        try {
          const result = await call(...args);
          record(outcomeOf(result));
          return result;
        } catch (error) {
          record(failureOutcome(error));
          throw error;
        }
      };
      const spanned = tracer
        ? (...args: unknown[]) =>
            tracer.startActiveSpan(
              `payment ${gateway.name} ${operation}`,
              {
                kind: SpanKind.CLIENT,
                attributes: { 'care360.gateway': gateway.name, 'care360.operation': operation },
              },
              async (span) => {
                try {
                  const result = await timed(...args);
                  span.setAttribute('care360.outcome', outcomeOf(result));
                  return result;
                } catch (error) {
                  span.setAttribute('care360.outcome', failureOutcome(error));
                  span.setStatus({ code: SpanStatusCode.ERROR });
                  throw error;
                } finally {
                  span.end();
                }
              },
            )
        : timed;
      Object.defineProperty(wrapper, operation, { value: spanned });
    }
    observed.set(gateway, wrapper);
    return wrapper;
  };
  const byName: Gateways['byName'] = {};
  for (const [name, gateway] of Object.entries(gateways.byName)) {
    if (gateway) byName[name as PaymentGateway['name']] = observe(gateway);
  }
  return {
    ...gateways,
    card: observe(gateways.card),
    nmi: gateways.nmi ? observe(gateways.nmi) : null,
    byName,
  };
}
