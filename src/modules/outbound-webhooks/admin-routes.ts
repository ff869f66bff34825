import { errorResponses } from '../../http/envelopes.ts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ADMIN_SECURITY, organizationOfAdminPath } from '../../http/admin.ts';
import { WEBHOOK_EVENTS } from './events.ts';
import type { WebhookEndpointRow } from './repository.ts';
import type { DeliveryWithAttempts, WebhookEndpointService } from './service.ts';
import { deliveryIdParam, organizationIdParam, webhookIdParam } from '../../http/parameters.ts';

const routeConfig = { auth: 'admin', envelope: 'standard' } as const;
const security = ADMIN_SECURITY;
const tags = ['admin', 'webhooks'];

const organizationParams = z.object({ organizationId: organizationIdParam });
const webhookParams = organizationParams.extend({ webhookId: webhookIdParam });
const deliveryParams = webhookParams.extend({ deliveryId: deliveryIdParam });

const url = z
  .string()
  .trim()
  .min(1)
  .max(2048)
  .describe('https:// and a public address (see WEBHOOK_ALLOW_PRIVATE_NETWORKS)');
const secret = z
  .string()
  .min(8)
  .max(256)
  .describe('Signing secret; absent: a new whsec_ secret is made and answered once');
const events = z
  .array(z.enum(WEBHOOK_EVENTS))
  .min(1)
  .max(WEBHOOK_EVENTS.length * 2)
  .describe('The events sent to this endpoint; absent or null: every event');
const documentFormat = z.enum(['BASE64', 'URL']).describe('Attachments inline in base64, or as signed URLs');
const sendFullCaseData = z.boolean().describe('The full case in every payload, or the basic case and the event data');

export const webhookView = z.object({
  webhookId: z.uuid(),
  organizationId: z.uuid(),
  url: z.string(),
  events: z.array(z.string()).nullable(),
  documentFormat,
  sendFullCaseData: z.boolean(),
  enabled: z.boolean(),
  disabledAt: z.string().nullable(),
  disabledReason: z.string().nullable().describe('Why deliveries stopped (by an operator, or failing for a day)'),
  failingSince: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export const withSecret = webhookView.extend({
  secret: z.string().optional().describe('Only when this server made the secret: shown this once'),
});

export const attemptView = z.object({
  attemptedAt: z.string(),
  durationMs: z.number(),
  outcome: z.enum(['delivered', 'failed']),
  responseStatus: z.number().nullable(),
  responseBody: z.string().nullable().describe('The first 1 KB of the response'),
  error: z.string().nullable(),
});
export const deliveryView = z.object({
  deliveryId: z.uuid(),
  webhookId: z.uuid(),
  caseId: z.uuid().nullable(),
  event: z.string(),
  eventId: z.uuid(),
  status: z.enum(['pending', 'delivered', 'failed']),
  nextAttemptAt: z.string().nullable(),
  createdAt: z.string(),
  deliveredAt: z.string().nullable(),
  lastError: z.string().nullable(),
  attempts: z.array(attemptView),
});

export function webhookJson(row: WebhookEndpointRow): z.infer<typeof webhookView> {
  return {
    webhookId: row.id,
    organizationId: row.organization_id,
    url: row.url,
    events: row.events,
    documentFormat: row.document_format,
    sendFullCaseData: row.send_full_case_data,
    enabled: row.disabled_at === null,
    disabledAt: row.disabled_at?.toISOString() ?? null,
    disabledReason: row.disabled_reason,
    failingSince: row.failing_since?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function deliveryJson({ delivery, attempts }: DeliveryWithAttempts): z.infer<typeof deliveryView> {
  return {
    deliveryId: delivery.id,
    webhookId: delivery.endpoint_id,
    caseId: delivery.case_id,
    event: delivery.event,
    eventId: delivery.event_id,
    status: delivery.status,
    nextAttemptAt: delivery.status === 'pending' ? delivery.next_attempt_at.toISOString() : null,
    createdAt: delivery.created_at.toISOString(),
    deliveredAt: delivery.delivered_at?.toISOString() ?? null,
    lastError: delivery.last_error,
    attempts: attempts.map((attempt) => ({
      attemptedAt: attempt.attempted_at.toISOString(),
      durationMs: attempt.duration_ms,
      outcome: attempt.outcome,
      responseStatus: attempt.response_status,
      responseBody: attempt.response_body,
      error: attempt.error,
    })),
  };
}

/** An organization's outbound webhook endpoints and their deliveries, under /admin/v1. */
// The request bodies, named in the API reference (src/http/openapi-components.ts).
export const webhookCreateBody = z.object({
  url,
  secret: secret.optional(),
  events: events.nullable().optional(),
  documentFormat: documentFormat.optional(),
  sendFullCaseData: sendFullCaseData.optional(),
});
export const webhookUpdateBody = z.object({
  url: url.optional(),
  events: events.nullable().optional(),
  documentFormat: documentFormat.optional(),
  sendFullCaseData: sendFullCaseData.optional(),
  enabled: z.boolean().optional(),
});
export const webhookRotateSecretBody = z.object({ secret: secret.optional() });
export const webhookRedeliverBody = z.object({ since: z.iso.datetime({ offset: true }) });

export function adminWebhookRoutes(webhooks: WebhookEndpointService): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/organizations/:organizationId/webhooks',
      {
        config: routeConfig,
        schema: {
          tags,
          summary: 'Add a webhook endpoint to an organization',
          description:
            'An https URL on a public address (http and private addresses only with WEBHOOK_ALLOW_PRIVATE_NETWORKS) and the event types it receives. Answers the signing secret once; deliveries are signed with it (`x-cv-signature` and the Standard Webhooks headers).',
          security,
          params: organizationParams,
          body: webhookCreateBody,
          response: { 201: withSecret, ...errorResponses('standard', [400, 401, 403, 404]) },
        },
      },
      async (request, reply) => {
        const { endpoint, secret: issued } = await webhooks.create(
          organizationOfAdminPath(request.params.organizationId),
          request.body,
        );
        return reply.code(201).send({ ...webhookJson(endpoint), ...(issued ? { secret: issued } : {}) });
      },
    );

    app.get(
      '/organizations/:organizationId/webhooks',
      {
        config: routeConfig,
        schema: {
          tags,
          summary: "List an organization's webhook endpoints (never their secrets)",
          description: 'Each endpoint with its URL, event types and whether it is enabled.',
          security,
          params: organizationParams,
          response: {
            200: z.object({ webhooks: z.array(webhookView) }),
            ...errorResponses('standard', [401, 403, 404]),
          },
        },
      },
      async (request) => ({
        webhooks: (await webhooks.list(organizationOfAdminPath(request.params.organizationId))).map(webhookJson),
      }),
    );

    app.get(
      '/organizations/:organizationId/webhooks/:webhookId',
      {
        config: routeConfig,
        schema: {
          tags,
          summary: 'One webhook endpoint',
          description: "The endpoint's settings; never its secret.",
          security,
          params: webhookParams,
          response: { 200: webhookView, ...errorResponses('standard', [401, 403, 404]) },
        },
      },
      async (request) =>
        webhookJson(
          await webhooks.get(organizationOfAdminPath(request.params.organizationId), request.params.webhookId),
        ),
    );

    app.patch(
      '/organizations/:organizationId/webhooks/:webhookId',
      {
        config: routeConfig,
        schema: {
          tags,
          summary: 'Change a webhook endpoint; `enabled: false` disables it, `enabled: true` enables it again',
          description: 'Changes only the fields sent. A disabled endpoint is sent nothing until it is enabled again.',
          security,
          params: webhookParams,
          body: webhookUpdateBody,
          response: { 200: webhookView, ...errorResponses('standard', [400, 401, 403, 404]) },
        },
      },
      async (request) =>
        webhookJson(
          await webhooks.update(
            organizationOfAdminPath(request.params.organizationId),
            request.params.webhookId,
            request.body,
          ),
        ),
    );

    app.delete(
      '/organizations/:organizationId/webhooks/:webhookId',
      {
        config: routeConfig,
        schema: {
          tags,
          summary: 'Delete a webhook endpoint and its deliveries',
          description: 'The endpoint is sent nothing more; its deliveries and their history are deleted with it.',
          security,
          params: webhookParams,
          response: {
            200: z.object({ webhookId: z.uuid(), deleted: z.literal(true) }),
            ...errorResponses('standard', [401, 403, 404]),
          },
        },
      },
      async (request) => {
        await webhooks.remove(organizationOfAdminPath(request.params.organizationId), request.params.webhookId);
        return { webhookId: request.params.webhookId, deleted: true as const };
      },
    );

    app.post(
      '/organizations/:organizationId/webhooks/:webhookId/rotate-secret',
      {
        config: routeConfig,
        schema: {
          tags,
          summary: 'Replace the signing secret (the one given, or a new one answered once)',
          description:
            'Deliveries from now on are signed with the new secret; a receiver that verifies with the old one rejects them, so rotate on both sides together.',
          security,
          params: webhookParams,
          body: webhookRotateSecretBody.optional(),
          response: { 200: withSecret, ...errorResponses('standard', [400, 401, 403, 404]) },
        },
      },
      async (request) => {
        const { endpoint, secret: issued } = await webhooks.rotateSecret(
          organizationOfAdminPath(request.params.organizationId),
          request.params.webhookId,
          request.body?.secret,
        );
        return { ...webhookJson(endpoint), ...(issued ? { secret: issued } : {}) };
      },
    );

    app.get(
      '/organizations/:organizationId/webhooks/:webhookId/deliveries',
      {
        config: routeConfig,
        schema: {
          tags,
          summary: 'The latest deliveries to a webhook endpoint, each with its attempts',
          description:
            "Each delivery's event, status (pending, delivered, failed) and next attempt, with its attempts and the status each got.",
          security,
          params: webhookParams,
          querystring: z.object({
            status: z.enum(['pending', 'delivered', 'failed']).optional().describe('Only deliveries in this status'),
            limit: z.coerce
              .number()
              .int()
              .min(1)
              .max(500)
              .default(50)
              .describe('Deliveries to return, 1 to 500 (default 50)'),
          }),
          response: {
            200: z.object({ deliveries: z.array(deliveryView) }),
            ...errorResponses('standard', [400, 401, 403, 404]),
          },
        },
      },
      async (request) => ({
        deliveries: (
          await webhooks.deliveries(
            organizationOfAdminPath(request.params.organizationId),
            request.params.webhookId,
            request.query,
          )
        ).map(deliveryJson),
      }),
    );

    app.post(
      '/organizations/:organizationId/webhooks/:webhookId/deliveries/:deliveryId/redeliver',
      {
        config: routeConfig,
        schema: {
          tags,
          summary: 'Send a delivery again (with the same body and webhook-id)',
          description: 'Queues the delivery again; a receiver that deduplicates by `webhook-id` sees the same id.',
          security,
          params: deliveryParams,
          response: {
            200: z.object({ deliveryId: z.uuid(), status: z.literal('pending') }),
            ...errorResponses('standard', [401, 403, 404]),
          },
        },
      },
      async (request) => {
        const { organizationId, webhookId, deliveryId } = request.params;
        await webhooks.redeliver(organizationOfAdminPath(organizationId), webhookId, deliveryId);
        return { deliveryId, status: 'pending' as const };
      },
    );

    app.post(
      '/organizations/:organizationId/webhooks/:webhookId/redeliver-failed',
      {
        config: routeConfig,
        schema: {
          tags,
          summary: 'Send again every failed delivery whose event is at or after `since`',
          description: 'For a receiver that was down longer than the retries last: queues each failed delivery again.',
          security,
          params: webhookParams,
          body: webhookRedeliverBody,
          response: { 200: z.object({ redelivered: z.number() }), ...errorResponses('standard', [400, 401, 403, 404]) },
        },
      },
      async (request) => ({
        redelivered: await webhooks.redeliverFailedSince(
          organizationOfAdminPath(request.params.organizationId),
          request.params.webhookId,
          new Date(request.body.since),
        ),
      }),
    );
  };
}
