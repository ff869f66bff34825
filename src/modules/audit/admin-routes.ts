import { z } from 'zod';
import { ADMIN_SECURITY } from '../../http/admin.ts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { cursorSchema, decodeCursor, limitSchema, toPage } from '../../http/pagination.ts';
import { AuditRepository, type AuditEventRow } from './repository.ts';
import type { Queryable } from '../../db/database.ts';
import { errorResponses } from '../../http/envelopes.ts';

const auditEventSchema = z.object({
  id: z.uuid(),
  organizationId: z.uuid().nullable().describe('Null when the caller was not authenticated'),
  apiKeyId: z.uuid().nullable(),
  staffId: z.uuid().nullable().describe('The staff member, for requests to the staff API'),
  action: z.string().describe('What was done, e.g. case.create, case.read, payment.create'),
  resourceType: z.string(),
  resourceId: z.string().nullable(),
  outcome: z.enum(['success', 'failure']).describe('success for a 1xx-3xx answer, failure for 4xx and 5xx'),
  statusCode: z.number().int(),
  requestId: z.string().describe('The x-request-id of the request'),
  clientAddress: z.string().nullable(),
  occurredAt: z.string(),
});

/** The cursor names the last event of the previous page (newest first). */
const positionSchema = z.object({ t: z.iso.datetime(), id: z.uuid() });

function auditEventView(row: AuditEventRow): z.infer<typeof auditEventSchema> {
  return {
    id: row.id,
    organizationId: row.organization_id,
    apiKeyId: row.api_key_id,
    staffId: row.staff_id,
    action: row.action,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    outcome: row.outcome,
    statusCode: row.status_code,
    requestId: row.request_id,
    clientAddress: row.client_address,
    occurredAt: row.occurred_at.toISOString(),
  };
}

const text = z.string().min(1).max(200);

/** GET /admin/v1/audit-events: the audit log, newest first, filtered and paginated. */
export function adminAuditRoutes(db: Queryable): FastifyPluginAsyncZod {
  const repository = new AuditRepository(db);
  return async (app) => {
    app.get(
      '/audit-events',
      {
        config: { auth: 'admin', envelope: 'standard' },
        schema: {
          tags: ['admin'],
          summary: 'Query the audit log of access to protected health information',
          description:
            'Every access to PHI (who, what, when), filtered by organization, action, resource and time range, keyset-paginated with `cursor`. The log holds no PHI itself.',
          security: ADMIN_SECURITY,
          querystring: z.object({
            organizationId: z.uuid().optional().describe("Only this organization's events (its id, a UUID)"),
            staffId: z.uuid().optional().describe("A staff member's reads and actions"),
            action: text.optional().describe('Only this action, e.g. case.read'),
            resourceType: text.optional().describe('Only events about this kind of resource, e.g. case'),
            resourceId: text.optional().describe('Only events about this resource (its id)'),
            from: z.iso.datetime({ offset: true }).optional().describe('Events at or after this time (ISO 8601)'),
            to: z.iso.datetime({ offset: true }).optional().describe('Events before this time (ISO 8601)'),
            limit: limitSchema(),
            cursor: cursorSchema,
          }),
          response: {
            200: z.object({
              auditEvents: z.array(auditEventSchema),
              nextCursor: z.string().nullable().describe('Pass as cursor for the next page; null on the last'),
            }),
            ...errorResponses('standard', [400, 401, 403]),
          },
        },
      },
      async (request) => {
        const { organizationId, staffId, action, resourceType, resourceId, from, to, limit, cursor } = request.query;
        const position = cursor === undefined ? undefined : decodeCursor(cursor, positionSchema);
        const rows = await repository.list(
          {
            organizationId,
            staffId,
            action,
            resourceType,
            resourceId,
            from: from === undefined ? undefined : new Date(from),
            to: to === undefined ? undefined : new Date(to),
            before: position && { occurredAt: new Date(position.t), id: position.id },
          },
          limit + 1,
        );
        const page = toPage(rows, limit, (row) => ({ t: row.occurred_at.toISOString(), id: row.id }));
        return { auditEvents: page.items.map(auditEventView), nextCursor: page.nextCursor };
      },
    );
  };
}
