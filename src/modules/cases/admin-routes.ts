import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/database.ts';
import { organizationOfAdminPath } from '../../http/admin.ts';
import { ApiError } from '../../http/api-error.ts';
import { errorResponses } from '../../http/envelopes.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { isUuid } from '../../uuid.ts';
import type { CaseReadOptions } from './lifecycle/case-serializer.ts';
import type { CaseReadService } from './lifecycle/read-service.ts';
import { organizationIdParam, textParam } from '../../http/parameters.ts';

const OPERATOR_READ: CaseReadOptions = {
  includeAttachments: true,
  documentFormat: 'base64',
  includeOrders: true,
  includeCalendarEvents: true,
  includeCaseProducts: true,
};

/**
 * GET /admin/v1/organizations/:organizationId/cases/:caseId: an operator reads one case of any organization, by
 * id or short id, as the case detail shows it. Every read is audited as `case.read` by no API key.
 */
export function adminCaseRoutes(db: Database, cases: CaseReadService, auditLog: AuditLog): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/organizations/:organizationId/cases/:caseId',
      {
        config: { auth: 'admin', envelope: 'standard' },
        schema: {
          tags: ['admin'],
          summary: "An organization's case by id or short id (PHI decrypted; audited)",
          description: 'The case object of the case detail, every part included. See docs/api/cases.md.',
          security: [{ adminToken: [] }],
          params: z.object({ organizationId: organizationIdParam, caseId: textParam('caseIdOrShortId', 64) }),
          response: {
            200: z.object({ case: z.record(z.string(), z.unknown()) }),
            ...errorResponses('standard', [400, 401, 404]),
          },
        },
      },
      async (request) => {
        const { organizationId, caseId: target } = request.params;
        const shortId = target.trim().toUpperCase();
        const byId = isUuid(target);
        const { rows } = await db.query<{ id: string }>(
          `select id from cases where organization_id = $1 and ${byId ? 'id = $2::uuid' : 'short_id = $2'}`,
          [organizationId, byId ? target.toLowerCase() : shortId],
        );
        if (!rows[0]) throw new ApiError(404, 'Case not found');
        const tenant = organizationOfAdminPath(organizationId);
        const detail = await cases.detail(
          { tenant, apiKeyId: 'operator', baseUrl: 'http://localhost' },
          { caseId: rows[0].id },
          OPERATOR_READ,
        );
        auditLog.record({
          id: randomUUID(),
          organizationId,
          apiKeyId: null,
          action: 'case.read',
          resourceType: 'case',
          resourceId: rows[0].id,
          outcome: 'success',
          statusCode: 200,
          requestId: request.id,
          clientAddress: request.ip ?? null,
          occurredAt: new Date(),
        });
        return { case: detail as unknown as Record<string, unknown> };
      },
    );
  };
}
