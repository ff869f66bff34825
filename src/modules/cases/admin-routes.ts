import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/database.ts';
import { ADMIN_SECURITY, organizationOfAdminPath } from '../../http/admin.ts';
import { ApiError } from '../../http/api-error.ts';
import { errorResponses } from '../../http/envelopes.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { CASE_STATUSES } from './lifecycle/read-repository.ts';
import { CaseRepository } from './repository.ts';
import { OrganizationRepository } from '../organizations/repository.ts';
import { caseObjectSchema, caseStatusesOf } from './lifecycle/read-schemas.ts';
import { auditOperatorReads, OPERATOR_READ } from './operator-reads.ts';
import { MAX_LIST_RANGE_DAYS, type CaseReadService } from './lifecycle/read-service.ts';
import { cursorSchema, decodeCursor, encodeCursor, limitSchema } from '../../http/pagination.ts';
import { organizationIdParam, textParam } from '../../http/parameters.ts';

const DAY_MS = 86_400_000;

/** The admin list's cursor names the last case of the previous page. */
const positionSchema = z.object({ id: z.uuid() });

const statusesQuery = z
  .string()
  .max(200)
  .optional()
  .describe(`Only cases in these statuses, comma-separated: ${CASE_STATUSES.join(', ')}`);

/**
 * The operator's case reads under /admin/v1, of any organization (its id in the path, through
 * `organizationOfAdminPath`): one case by id or short id, and the case list, keyset-paginated. Every case an answer
 * carries is audited as a `case.read` of that case by no API key, with the request's id (as `case show|list`).
 */
export function adminCaseRoutes(db: Database, cases: CaseReadService, auditLog: AuditLog): FastifyPluginAsyncZod {
  const auditReads = (request: FastifyRequest, organizationId: string, caseIds: readonly string[]) =>
    auditOperatorReads(auditLog, {
      organizationId,
      caseIds,
      requestId: request.id,
      clientAddress: request.ip ?? null,
      staffId: request.staff?.staffId ?? null,
    });

  return async (app) => {
    app.get(
      '/organizations/:organizationId/cases',
      {
        config: { auth: 'admin', envelope: 'standard' },
        schema: {
          tags: ['admin'],
          summary: "An organization's cases, oldest first (PHI decrypted; audited)",
          description:
            'The case objects of the case list, every part included (attachments as base64), created in ' +
            `[startTime, endTime): by default the last ${MAX_LIST_RANGE_DAYS} days, at most ${MAX_LIST_RANGE_DAYS}. ` +
            'Keyset-paginated: pass nextCursor as `cursor` for the next page. Each case returned is audited as a ' +
            'read of that case. See docs/api/cases.md.',
          security: ADMIN_SECURITY,
          params: z.object({ organizationId: organizationIdParam }),
          querystring: z.object({
            startTime: z.iso
              .datetime({ offset: true })
              .optional()
              .describe(`Cases created at or after (ISO 8601); default: endTime less ${MAX_LIST_RANGE_DAYS} days`),
            endTime: z.iso
              .datetime({ offset: true })
              .optional()
              .describe('Cases created before (ISO 8601); default: now'),
            status: statusesQuery,
            limit: limitSchema({ default: 20 }),
            cursor: cursorSchema,
          }),
          response: {
            200: z.object({
              cases: z.array(caseObjectSchema),
              nextCursor: z.string().nullable().describe('Pass as cursor for the next page; null on the last'),
            }),
            ...errorResponses('standard', [400, 401, 403, 404]),
          },
        },
      },
      async (request) => {
        const { organizationId } = request.params;
        const { startTime, endTime, status, limit, cursor } = request.query;
        const end = endTime === undefined ? new Date() : new Date(endTime);
        const start =
          startTime === undefined ? new Date(end.getTime() - MAX_LIST_RANGE_DAYS * DAY_MS) : new Date(startTime);
        if (end.getTime() <= start.getTime()) throw new ApiError(400, 'endTime must be later than startTime');
        if (end.getTime() - start.getTime() > MAX_LIST_RANGE_DAYS * DAY_MS) {
          throw new ApiError(400, `The range from startTime to endTime must not exceed ${MAX_LIST_RANGE_DAYS} days`);
        }
        const statuses = caseStatusesOf(status);
        const after = cursor === undefined ? undefined : decodeCursor(cursor, positionSchema).id;
        if (!(await new OrganizationRepository(db).exists(organizationId))) {
          throw new ApiError(404, 'Organization not found');
        }
        const page = await cases.list(
          { tenant: organizationOfAdminPath(organizationId), apiKeyId: 'operator', baseUrl: 'http://localhost' },
          { startTime: start, endTime: end, statuses, after, recordsPerPage: limit },
          OPERATOR_READ,
        );
        auditReads(
          request,
          organizationId,
          page.cases.map((listed) => listed.id),
        );
        const last = page.pageInfo.cursor.end;
        return {
          cases: page.cases,
          nextCursor: page.pageInfo.hasNextPage && last !== null ? encodeCursor({ id: last }) : null,
        };
      },
    );

    app.get(
      '/organizations/:organizationId/cases/:caseId',
      {
        config: { auth: 'admin', envelope: 'standard' },
        schema: {
          tags: ['admin'],
          summary: "An organization's case by id or short id (PHI decrypted; audited)",
          description: 'The case object of the case detail, every part included. See docs/api/cases.md.',
          security: ADMIN_SECURITY,
          params: z.object({ organizationId: organizationIdParam, caseId: textParam('caseIdOrShortId', 64) }),
          response: {
            200: z.object({ case: caseObjectSchema }),
            ...errorResponses('standard', [400, 401, 403, 404]),
          },
        },
      },
      async (request) => {
        const { organizationId, caseId: target } = request.params;
        const tenant = organizationOfAdminPath(organizationId);
        const caseId = await new CaseRepository(db, tenant).idOf(target);
        if (!caseId) throw new ApiError(404, 'Case not found');
        const detail = await cases.detail(
          { tenant, apiKeyId: 'operator', baseUrl: 'http://localhost' },
          { caseId },
          OPERATOR_READ,
        );
        auditReads(request, organizationId, [caseId]);
        return { case: detail };
      },
    );
  };
}
