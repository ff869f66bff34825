import { z } from 'zod';
import { attachmentSchema, caseObjectSchema } from '../modules/cases/lifecycle/read-schemas.ts';
import {
  intakeBodySchema,
  intakeSuccessSchema,
  questionItemSchema,
  shippingAddressSchema,
} from '../modules/cases/schemas.ts';
import { formSchema, questionSchema } from '../modules/forms/routes.ts';
import { promoView } from '../modules/promo-codes/views.ts';
import {
  casePaymentCreateBody,
  paymentCaptureBody,
  paymentConfirmationBody,
  paymentIntentBody,
  paymentRefundBody,
  paymentSetupBody,
} from '../modules/payments/body-schemas.ts';
import { credentialsResponse, credentialView } from '../modules/payments/admin-routes.ts';
import { configSchema as paymentConfigSchema } from '../modules/payments/config-routes.ts';
import { gatewayCredentialsBody } from '../modules/payments/credentials.ts';
import { detail as paymentDetailSchema, result as paymentResultSchema } from '../modules/payments/routes.ts';
import { setPasswordSchema, staffCreateBody, staffViewSchema } from '../modules/staff/admin-routes.ts';
import {
  staffLoginBody,
  staffSetPasswordBody,
  staffTotpEnableBody,
  staffTotpRequiredBody,
} from '../modules/staff/auth-routes.ts';
import { medInfoSchema, queueItemSchema } from '../modules/staff/case-routes.ts';
import {
  attemptView,
  deliveryView,
  webhookCreateBody,
  webhookRedeliverBody,
  webhookRotateSecretBody,
  webhookUpdateBody,
  webhookView,
  withSecret,
} from '../modules/outbound-webhooks/admin-routes.ts';
import { foundCaseSchema } from './envelopes.ts';

/**
 * The named component schemas of the OpenAPI document: each schema given an id here is written once under
 * `components.schemas` and referenced where a route uses it, so a generated client has named types. A request
 * body's component carries the suffix `Input` (fastify-type-provider-zod names input and output apart). The
 * error envelopes are named where they are defined (src/http/envelopes.ts).
 */
const COMPONENTS: [z.ZodType, { id: string; description?: string }][] = [
  [intakeBodySchema, { id: 'CaseCreate', description: 'The body of Case Create (POST /api/v1/dynamic-case)' }],
  [intakeSuccessSchema, { id: 'CaseCreated' }],
  [questionItemSchema, { id: 'QuestionAnswer', description: 'One question of a case with its answer' }],
  [shippingAddressSchema, { id: 'ShippingAddress' }],
  [caseObjectSchema, { id: 'Case', description: 'A case as the case detail and the case list show it' }],
  [attachmentSchema, { id: 'CaseAttachment' }],
  [formSchema, { id: 'Form' }],
  [questionSchema, { id: 'FormQuestion' }],
  [promoView, { id: 'PromoCode' }],
  // Payments: the bodies their routes check (body-schemas.ts), the payment and the configuration.
  [paymentSetupBody, { id: 'PaymentSetup' }],
  [paymentIntentBody, { id: 'PaymentIntentCreate' }],
  [casePaymentCreateBody, { id: 'CasePaymentCreate' }],
  [paymentCaptureBody, { id: 'PaymentCapture' }],
  [paymentRefundBody, { id: 'PaymentRefund' }],
  [paymentConfirmationBody, { id: 'PaymentConfirmation' }],
  [paymentResultSchema, { id: 'CasePayment', description: 'A payment of a case' }],
  [paymentDetailSchema, { id: 'CasePaymentDetail', description: 'A payment of a case with its hold' }],
  [paymentConfigSchema, { id: 'PaymentConfig' }],
  [gatewayCredentialsBody, { id: 'PaymentGatewayCredentials' }],
  [credentialsResponse, { id: 'PaymentGatewayAccounts' }],
  [credentialView, { id: 'PaymentGatewayCredential' }],
  // Staff.
  [staffViewSchema, { id: 'StaffMember' }],
  [setPasswordSchema, { id: 'SetPasswordLink' }],
  [queueItemSchema, { id: 'StaffQueueCase', description: 'A case of the staff queue' }],
  [foundCaseSchema, { id: 'StaffCaseState' }],
  [medInfoSchema, { id: 'MedicationInfo' }],
  [staffCreateBody, { id: 'StaffCreate' }],
  [staffLoginBody, { id: 'StaffLogin' }],
  [staffSetPasswordBody, { id: 'StaffSetPassword' }],
  [staffTotpRequiredBody, { id: 'StaffTotpRequired' }],
  [staffTotpEnableBody, { id: 'StaffTotpEnable' }],
  // Outbound webhooks.
  [webhookView, { id: 'WebhookEndpoint' }],
  [withSecret, { id: 'WebhookEndpointWithSecret' }],
  [deliveryView, { id: 'WebhookDelivery' }],
  [attemptView, { id: 'WebhookDeliveryAttempt' }],
  [webhookCreateBody, { id: 'WebhookEndpointCreate' }],
  [webhookUpdateBody, { id: 'WebhookEndpointUpdate' }],
  [webhookRotateSecretBody, { id: 'WebhookSecretRotation' }],
  [webhookRedeliverBody, { id: 'WebhookRedelivery' }],
];

export function registerComponentSchemas(): void {
  for (const [schema, meta] of COMPONENTS) {
    const existing = z.globalRegistry.get(schema);
    if (existing?.id !== undefined) continue;
    // A schema may carry metadata already (a description, a documented body's JSON Schema): kept, named.
    if (existing) z.globalRegistry.remove(schema);
    z.globalRegistry.add(schema, { ...existing, ...meta });
  }
}
