import { availableParallelism } from 'node:os';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { AuditLog } from './modules/audit/audit-log.ts';
import { AuditRepository } from './modules/audit/repository.ts';
import { OrganizationService } from './modules/organizations/service.ts';
import { createGateways, type Gateways } from './modules/payments/gateways/index.ts';
import { GatewayCredentialStore, GatewayDirectory } from './modules/payments/credentials.ts';
import { IntakePaymentsProcessor } from './modules/payments/intake-processor.ts';
import { PaymentService } from './modules/payments/service.ts';
import { RefundService } from './modules/payments/refunds.ts';
import { PaymentConfirmationService } from './modules/payments/confirmation.ts';
import { ApprovalChargeJob } from './modules/payments/approval-charges.ts';
import { PaymentSweepJob } from './modules/payments/sweep.ts';
import { ProductService } from './modules/products/service.ts';
import { PromoCodeService } from './modules/promo-codes/service.ts';
import { StripeWebhookService } from './modules/webhooks/stripe-webhooks.ts';
import { WebhookDeliveryWorker } from './modules/outbound-webhooks/delivery-worker.ts';
import { WebhookQueue } from './modules/outbound-webhooks/repository.ts';
import { WebhookEndpointService } from './modules/outbound-webhooks/service.ts';
import { phiCipherFor, type PhiCipher } from './crypto/phi.ts';
import { IntakeService } from './modules/cases/intake/service.ts';
import { CaseActionService } from './modules/cases/lifecycle/case-actions.ts';
import { CaseReadService } from './modules/cases/lifecycle/read-service.ts';
import { caseWebhookPayloads } from './modules/cases/lifecycle/webhook-payload.ts';
import { DatabaseFileStorage } from './modules/files/storage.ts';
import { FormService } from './modules/forms/service.ts';
import { StaffService } from './modules/staff/service.ts';
import { AutoAssigner } from './modules/staff/auto-assignment.ts';
import type { Tenant } from './http/gate.ts';
import { RequestLoad } from './http/request-load.ts';
import { observeGateways } from './observability/gateways.ts';
import { NO_OBSERVABILITY, type Observability } from './observability/index.ts';

/** The domain services, built once per process over one database; the HTTP app and the CLI share them. */
export interface Services {
  organizations: OrganizationService;
  /** Encryption at rest of PHI answers and files (keys from PHI_ENCRYPTION_KEY(S) or DATA_DIR/phi.key). */
  phiCipher: PhiCipher;
  /** The PHI access audit log (append-only); routes feed it through `config.audit`. */
  audit: AuditLog;
  /** POST /api/v1/dynamic-case (its payment seam: `payments` in IntakeDependencies). */
  intake: IntakeService;
  forms: FormService;
  /** The case detail, the latest case of a customer, the case list, signed file downloads. */
  caseReads: CaseReadService;
  /** POST /api/v1/cases/:caseId: status changes and comments. */
  caseActions: CaseActionService;
  /** Product bundles and products (prices in cents). */
  products: ProductService;
  /** Promo codes: global or per organization. */
  promoCodes: PromoCodeService;
  /** The server's Stripe (or simulated) and NMI gateways, chosen by configuration. */
  gateways: Gateways;
  /** Each organization's gateways: its own accounts (gatewayCredentials) over the server's. */
  gatewayDirectory: GatewayDirectory;
  /** An organization's own gateway credentials, sealed with the PHI cipher. */
  gatewayCredentials: GatewayCredentialStore;
  /** Setup/payment intents, case payments with holds, captures, releases and webhook updates. */
  payments: PaymentService;
  /** Refunds of case payments (POST .../payments/:paymentId/refund). */
  refunds: RefundService;
  /** POST /api/v1/customer-payment-confirmation: payments taken outside this server. */
  confirmations: PaymentConfirmationService;
  /** The intake's payment fields, and UPDATE_PAYMENT_INFO's replacement of a patient's saved card. */
  intakePayments: IntakePaymentsProcessor;
  /** Charge on approval: charges (or captures) a case's owed payments once a decision approves it; the server starts it. */
  approvalCharges: ApprovalChargeJob;
  paymentSweep: PaymentSweepJob;
  /** POST /webhooks/stripe: signed events that settle payments. */
  stripeWebhooks: StripeWebhookService;
  /** Outbound webhooks: an organization's endpoints and their deliveries. */
  webhooks: WebhookEndpointService;
  /** Staff accounts, sign-in and sessions (the gate reads sessions through it). */
  staff: StaffService;
  /** Sends the queued webhook deliveries; the server starts it (tests start it when they ask). */
  webhookDelivery: WebhookDeliveryWorker;
  /** The requests the app is answering (the app counts them), which the webhook sends give way to. */
  requestLoad: RequestLoad;
}

/**
 * The server counts as busy at a moment with this many requests in flight per CPU or more (they queue for it), and
 * as saturated when busy for more than `SATURATED_SHARE` of the last second: then webhook sends give way.
 */
const BUSY_REQUESTS_PER_CPU = 2;
const SATURATED_SHARE = 0.95;

export function createServices(
  db: Database,
  config: Config,
  observability: Observability = NO_OBSERVABILITY,
): Services {
  const phiCipher = phiCipherFor({
    configuredKey: config.intake.phiEncryptionKey,
    oldKeys: config.intake.phiEncryptionOldKeys,
    dataDir: config.dataDir,
    engine: db.engine,
    inMemory: db.inMemory === true,
  });
  const products = new ProductService(db);
  const promoCodes = new PromoCodeService(db);
  const gateways = observeGateways(createGateways(config.payments, db), observability);
  const gatewayDirectory = new GatewayDirectory(db, phiCipher, config.payments, gateways, (own) =>
    observeGateways(own, observability),
  );
  const organizations = new OrganizationService(db);
  const webhookOptions = { allowPrivateNetworks: config.webhooks.allowPrivateNetworks };
  observability.metrics?.webhookQueueDepth(() => new WebhookQueue(db).pendingCount());
  const fileLimits = {
    maxFileBytes: config.intake.fileMaxBytes,
    maxFilesPerAnswer: config.intake.filesMaxPerAnswer,
    maxTotalBytes: config.intake.filesMaxTotalBytes,
  };
  const audit = new AuditLog(new AuditRepository(db));
  const payments = new PaymentService(db, gatewayDirectory, products);
  const refunds = new RefundService(db, gatewayDirectory, config.payments);
  const intakePayments = new IntakePaymentsProcessor(db, gatewayDirectory, products, promoCodes, config.payments);
  const autoAssigner = new AutoAssigner(db);
  // A case just opened goes to the next provider when its organization has auto-assignment on. Its own failure
  // (a lost connection) leaves the case OPEN in the queue, where staff assign it: the change that opened it
  // has committed and is answered as done. The warning names the error's kind only.
  const onCaseOpened = (tenant: Tenant, caseId: string) =>
    autoAssigner.caseOpened(tenant, caseId).catch((error: unknown) => {
      process.emitWarning(`Auto-assignment failed: ${(error as { code?: string }).code ?? (error as Error).name}`);
      return null;
    });
  const requestLoad = new RequestLoad(BUSY_REQUESTS_PER_CPU * availableParallelism());
  const caseReads = new CaseReadService({ db, cipher: phiCipher, fileStorage: new DatabaseFileStorage(phiCipher) });
  return {
    organizations,
    phiCipher,
    audit,
    products,
    promoCodes,
    gateways,
    gatewayDirectory,
    gatewayCredentials: new GatewayCredentialStore(db, phiCipher),
    payments,
    refunds,
    confirmations: new PaymentConfirmationService(db),
    intakePayments,
    approvalCharges: new ApprovalChargeJob(db, gatewayDirectory),
    paymentSweep: new PaymentSweepJob(db, gatewayDirectory, payments, refunds),
    stripeWebhooks: new StripeWebhookService(db, gatewayDirectory),
    webhooks: new WebhookEndpointService(db, phiCipher, webhookOptions),
    webhookDelivery: new WebhookDeliveryWorker(db, phiCipher, {
      ...webhookOptions,
      timeoutMs: config.webhooks.timeoutMs,
      concurrency: config.webhooks.concurrency,
      render: caseWebhookPayloads({ serializer: caseReads.serializer, publicUrl: config.webhooks.publicUrl }),
      auditLog: audit,
      metrics: observability.metrics,
      busy: () => requestLoad.busyShare() > SATURATED_SHARE,
    }),
    requestLoad,
    intake: new IntakeService({
      db,
      cipher: phiCipher,
      fileStorage: new DatabaseFileStorage(phiCipher),
      payments: intakePayments,
      fileLimits,
      onCaseOpened,
    }),
    forms: new FormService(db),
    caseReads,
    staff: new StaffService(db, phiCipher),
    caseActions: new CaseActionService({
      db,
      cipher: phiCipher,
      fileStorage: new DatabaseFileStorage(phiCipher),
      fileLimits,
      onCaseOpened,
    }),
  };
}
