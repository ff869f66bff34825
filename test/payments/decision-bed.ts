import assert from 'node:assert/strict';
import { ApprovalChargeJob } from '../../src/modules/payments/approval-charges.ts';
import { startFakeNmi, type FakeNmiServer } from '../fakes/nmi-server.ts';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { bearer, staffMember, type SignedIn } from '../staff/support.ts';
import { paymentsTestContext, type TestContext } from './support.ts';

/** A shipping address in DC, the state the bed's provider is licensed in. */
export const DC = { addressLine1: '1 Main St', city: 'Washington', state: 'DC', country: 'US', postalCode: '20500' };

/** The SetupIntent id of a client secret (`seti_..._secret_...`). */
export const secretId = (secret: unknown) => String(secret).split('_secret_')[0]!;

/**
 * What the tests of the decision jobs (charge on approval, release on rejection, a declined charge retried) work
 * on: the Stripe-compatible and NMI fakes, the app on them, an organization with a SUPPORT member and a PROVIDER
 * licensed in DC, the approval job, and the staff actions that make decisions.
 */
export interface DecisionBed {
  stripe: FakeStripeServer;
  nmi: FakeNmiServer;
  context: TestContext;
  apiKey: string;
  organizationId: string;
  support: SignedIn;
  provider: SignedIn;
  job: ApprovalChargeJob;
  /** A staff action on the case (`assign`, `decisions`, ...), which must answer 200. */
  act(member: SignedIn, caseId: string, action: string, payload: Record<string, unknown>): Promise<void>;
  /** SUPPORT assigns the case to the provider, who decides it. */
  assignAndDecide(caseId: string, decision: { isApproved: boolean; isNoDecision?: boolean }): Promise<void>;
  /** The worker that held a record died, or its retry delay passed: every record is due again. */
  lapse(): Promise<unknown>;
  close(): Promise<void>;
}

export async function decisionBed(): Promise<DecisionBed> {
  const stripe = await startFakeStripe();
  const nmi = await startFakeNmi();
  const context = await paymentsTestContext({ ...stripe.environment(), ...nmi.environment() });
  const { apiKey, organizationId } = await context.organization();
  const support = await staffMember(context.app, 'SUPPORT', { organizationIds: [organizationId] });
  const provider = await staffMember(context.app, 'PROVIDER', {
    organizationIds: [organizationId],
    title: 'MD',
    npi: '1234567890',
    dea: 'AB1234567',
    licensedStates: ['DC'],
  });
  const act: DecisionBed['act'] = async (member, caseId, action, payload) => {
    const response = await context.app.inject({
      method: 'POST',
      url: `/staff/v1/cases/${caseId}/${action}`,
      headers: bearer(member),
      payload,
    });
    assert.equal(response.statusCode, 200, response.body);
  };
  return {
    stripe,
    nmi,
    context,
    apiKey,
    organizationId,
    support,
    provider,
    job: new ApprovalChargeJob(context.db, context.services.gatewayDirectory),
    act,
    async assignAndDecide(caseId, decision) {
      await act(support, caseId, 'assign', { assigneeId: provider.staffId });
      await act(provider, caseId, 'decisions', decision);
    },
    lapse: () => context.db.query("update payment_approval_charges set claimed_until = now() - interval '1 second'"),
    async close() {
      await context.close();
      await stripe.stop();
      await nmi.stop();
    },
  };
}
