import { DatabaseFileStorage } from '../../src/modules/files/storage.ts';
import { Tenant } from '../../src/http/gate.ts';
import { enqueueWebhookEvent } from '../../src/modules/outbound-webhooks/events.ts';
import { WebhookRepository } from '../../src/modules/outbound-webhooks/repository.ts';
import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { verifyPhiKey } from '../../src/crypto/phi-key-check.ts';
import type { Database } from '../../src/db/database.ts';
import { createServices } from '../../src/services.ts';
import { startFakeStripe } from '../fakes/stripe-server.ts';

const ADMIN_TOKEN = 'fill-admin-token';

/** What the fixture sent that must come back, decrypted, after a copy. */
export interface Filled {
  phiAnswer: string;
  fileBytes: Buffer;
  caseIds: string[];
}

/**
 * Fills every table of a care360 database through the app's own paths, as a clinic's use would: the admin
 * API (organization, keys, bundle, product, promo code), intakes with a PHI answer and a file, the simulated
 * gateway's setup, hold and capture, an NMI-token charge, a case payment on a Stripe server (the fake)
 * settled by its webhook, the audit log, and the PHI key check. `environment` is the server's (DATA_DIR,
 * PHI key). A table added later without a path here stays empty, and the tests that call this say so.
 */
export async function fillEveryTable(db: Database, environment: Record<string, string>): Promise<Filled> {
  const base = {
    ADMIN_TOKEN,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_KEY: '0',
    RATE_LIMIT_PER_ADDRESS: '0',
    ...environment,
  };
  const simulatedConfig = loadConfig(base);
  const simulated = createServices(db, simulatedConfig);
  await verifyPhiKey(db, simulated.phiCipher);
  const app = await buildApp({ config: simulatedConfig, db, services: simulated, logger: false });
  const fake = await startFakeStripe();
  const stripeConfig = loadConfig({ ...base, ...fake.environment() });
  const stripeApp = await buildApp({ config: stripeConfig, db, logger: false });
  try {
    const call = async (
      target: FastifyInstance,
      method: 'GET' | 'POST' | 'PATCH',
      url: string,
      body?: unknown,
      key?: string,
    ) => {
      const response = await target.inject({
        method,
        url,
        headers: key ? { 'cv-api-key': key } : { authorization: `Bearer ${ADMIN_TOKEN}` },
        ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
      });
      assert.ok(response.statusCode < 300, `${method} ${url}: ${response.statusCode} ${response.body}`);
      return response.json();
    };
    const { organizationId, apiKey } = await call(app, 'POST', '/admin/v1/organizations', { name: 'Fill clinic' });
    await call(app, 'POST', `/admin/v1/organizations/${organizationId}/api-keys`, { label: 'second' });
    const { bundle } = await call(app, 'POST', `/admin/v1/organizations/${organizationId}/bundles`, {
      name: 'Starter',
      price: '199.00',
    });
    await call(app, 'POST', `/admin/v1/organizations/${organizationId}/products`, {
      name: 'Consultation',
      price: 49,
      productBundleId: bundle.id,
    });
    await call(app, 'POST', '/admin/v1/promo-codes', { organizationId, code: 'WELCOME10', percentDiscount: 10 });

    const phiAnswer = `history ${randomBytes(6).toString('hex')}`;
    const fileBytes = randomBytes(3000);
    const intake = (extra: Record<string, unknown>, email: string) => ({
      firstName: 'Fill',
      lastName: 'Patient',
      email,
      formTitle: 'Fill form',
      questions: [
        { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' },
        { question: 'Medical history', type: 'TEXT', required: true, phi: true, answer: phiAnswer },
        {
          question: 'Upload your documents',
          type: 'FILE',
          required: true,
          phi: true,
          answer: [{ name: 'scan.bin', data: fileBytes.toString('base64'), contentType: 'application/octet-stream' }],
        },
      ],
      ...extra,
    });

    // The simulated gateway: a saved card (setup), an intake paying with it, a hold and its capture.
    const setup = await call(app, 'POST', '/api/v1/payments/setup', {}, apiKey);
    const stripeSetupId = String(setup.paymentSecret).split('_secret_')[0];
    const paid = await call(
      app,
      'POST',
      '/api/v1/dynamic-case',
      intake(
        { stripeSetupId, paymentAmount: 199, productBundleId: bundle.id, promoCode: 'WELCOME10' },
        'a@fill.example.com',
      ),
      apiKey,
    );
    const caseId = paid.data.caseId as string;
    const held = await call(
      app,
      'POST',
      `/api/v1/cases/${caseId}/payments`,
      { amount: 50, preauthorize: true },
      apiKey,
    );
    const paymentId = held.data.result.paymentId as string;
    await call(app, 'POST', `/api/v1/cases/${caseId}/payments/${paymentId}/capture`, { amount: 30 }, apiKey);
    await call(app, 'POST', `/api/v1/cases/${caseId}/payments/${paymentId}/refund`, { amount: 10 }, apiKey);
    // An NMI token charged by the intake (simulated): a gateway intent keyed by the intake's request.
    const charged = await call(
      app,
      'POST',
      '/api/v1/dynamic-case',
      intake(
        { nmiChargeNow: true, nmiPaymentToken: 'tok_fill', paymentAmount: 25, idempotencyKey: 'fill-nmi' },
        'b@fill.example.com',
      ),
      apiKey,
    );

    // Stripe (the fake): a hold on a saved card, settled by a signed webhook event.
    const stripeSetup = await call(stripeApp, 'POST', '/api/v1/payments/setup', {}, apiKey);
    const stripeSetupIntent = String(stripeSetup.paymentSecret).split('_secret_')[0]!;
    fake.confirmSetupIntent(stripeSetupIntent);
    const stripeCase = await call(
      stripeApp,
      'POST',
      '/api/v1/dynamic-case',
      intake({ stripeSetupId: stripeSetupIntent, paymentAmount: 80 }, 'c@fill.example.com'),
      apiKey,
    );
    const stripeHold = await call(
      stripeApp,
      'POST',
      `/api/v1/cases/${stripeCase.data.caseId}/payments`,
      { amount: 80, preauthorize: true },
      apiKey,
    );
    const { rows } = await db.query<{ gateway_reference: string }>(
      'select gateway_reference from case_payments where id = $1',
      [stripeHold.data.result.paymentId],
    );
    const delivery = fake.webhook('payment_intent.succeeded', fake.paymentIntents.get(rows[0]!.gateway_reference)!);
    const webhook = await stripeApp.inject({
      method: 'POST',
      url: '/webhooks/stripe',
      headers: { 'content-type': 'application/json', 'stripe-signature': delivery.signature },
      payload: delivery.payload,
    });
    assert.equal(webhook.statusCode, 200, webhook.body);

    // A comment with an attachment and a decision: the case routes that write them come with the case actions.
    const commentId = randomUUID();
    await db.query(`insert into case_comments (id, organization_id, case_id, encrypted_text) values ($1, $2, $3, $4)`, [
      commentId,
      organizationId,
      caseId,
      await simulated.phiCipher.encryptText('A comment on the case'),
    ]);
    const attachment = await new DatabaseFileStorage(simulated.phiCipher).put(db, {
      tenant: Tenant.forOperator(organizationId, 'test'),
      fileId: randomUUID(),
      content: Buffer.from('comment attachment'),
    });
    await db.query(
      `insert into case_attachments (id, organization_id, case_id, comment_id, file_name, content_type, size_bytes,
                                     sha256, storage_key)
       values ($1, $2, $3, $4, 'note.txt', 'text/plain', 18, 'unused', $5)`,
      [randomUUID(), organizationId, caseId, commentId, attachment.storageKey],
    );
    await db.query(
      `insert into case_decisions (id, organization_id, case_id, is_approved, decision_text) values ($1, $2, $3, true, 'Approved')`,
      [randomUUID(), organizationId, caseId],
    );

    // Charge on approval: the decision above approves the case, whose intake payment is owed (simulated gateway).
    await call(app, 'PATCH', `/admin/v1/organizations/${organizationId}/payment-settings`, { chargeOnApproval: true });
    await simulated.approvalCharges.runOnce();

    // An outbound webhook endpoint with a delivery queued and one attempt recorded (no worker runs here).
    const tenant = Tenant.forOperator(organizationId, 'test');
    const endpoint = await new WebhookRepository(db, tenant).createEndpoint({
      url: 'https://hooks.example.com/care360',
      secretSealed: await simulated.phiCipher.encryptText(`whsec_${randomBytes(32).toString('base64')}`),
      events: null,
      documentFormat: 'BASE64',
      sendFullCaseData: false,
    });
    await enqueueWebhookEvent(db, tenant, { caseId, event: 'CREATE_CASE', eventId: randomUUID() });
    await db.query(
      `insert into webhook_delivery_attempts (id, delivery_id, duration_ms, outcome, response_status, response_body)
       select $1, id, 12, 'failed', 500, 'busy' from webhook_deliveries where endpoint_id = $2 limit 1`,
      [randomUUID(), endpoint.id],
    );

    // Staff: an account with a set-password link, one for the organization signed in, and a failed sign-in.
    await call(app, 'POST', '/admin/v1/staff', {
      email: 'admin@fill.example.com',
      firstName: 'A',
      lastName: 'Dmin',
      role: 'ADMIN',
    });
    const staffPassword = 'fill staff password';
    await call(app, 'POST', '/admin/v1/staff', {
      email: 'provider@fill.example.com',
      firstName: 'P',
      lastName: 'Rovider',
      role: 'PROVIDER',
      organizationIds: [organizationId],
      password: staffPassword,
      licensedStates: ['DC'],
    });
    await call(app, 'POST', '/staff/v1/auth/login', { email: 'provider@fill.example.com', password: staffPassword });
    // Auto-assignment: on for the organization, a case from DC goes to that provider (a turn recorded).
    await call(app, 'PATCH', `/admin/v1/organizations/${organizationId}/auto-assignment`, { enabled: true });
    const shippingAddress = {
      addressLine1: '1 Main St',
      city: 'Washington',
      state: 'DC',
      country: 'US',
      postalCode: '20500',
    };
    const autoAssigned = await call(
      app,
      'POST',
      '/api/v1/dynamic-case',
      intake({ shippingAddress }, 'auto@fill.example.com'),
      apiKey,
    );
    // After the sign-in, which clears the failures of its address.
    const failed = await app.inject({
      method: 'POST',
      url: '/staff/v1/auth/login',
      payload: { email: 'provider@fill.example.com', password: 'not the password' },
    });
    assert.equal(failed.statusCode, 401);

    // The organization's own NMI account, last: its payments above went through the server's gateways.
    await call(app, 'PATCH', `/admin/v1/organizations/${organizationId}/payment-gateways`, {
      nmiSecurityKey: 'fill-own-nmi-security-key',
      nmiTokenizationKey: 'fill-own-collect-js-key',
    });

    await simulated.audit.flush();
    return {
      phiAnswer,
      fileBytes,
      caseIds: [caseId, charged.data.caseId, stripeCase.data.caseId, autoAssigned.data.caseId],
    };
  } finally {
    await app.close();
    await stripeApp.close();
    await fake.stop();
  }
}

/** Every base table of the current schema with its row count. */
export async function rowCounts(db: Pick<Database, 'query'>): Promise<Record<string, number>> {
  const { rows: tables } = await db.query<{ name: string }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind = 'r' order by 1`,
  );
  const counts: Record<string, number> = {};
  for (const { name } of tables) {
    const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from "${name}"`);
    counts[name] = rows[0]!.n;
  }
  return counts;
}
