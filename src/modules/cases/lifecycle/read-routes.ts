import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../../http/api-error.ts';
import { readEventOf } from '../../../http/audit.ts';
import { envelopes, errorResponses } from '../../../http/envelopes.ts';
import { signedLinkScope } from '../../../http/gate.ts';
import type { AuditLog } from '../../audit/audit-log.ts';
import type { CaseReader } from './case-serializer.ts';
import {
  caseDetailQuerySchema,
  caseDetailSuccessSchema,
  caseListQuerySchema,
  caseListRequestOf,
  caseListSuccessSchema,
  latestCaseIdQuerySchema,
  latestCaseIdSuccessSchema,
  readOptionsOf,
} from './read-schemas.ts';
import type { CaseReadService } from './read-service.ts';
import { DOWNLOAD_PATH } from './signed-urls.ts';

const INVALID_LINK = 'This download link is invalid or has expired';

/** The bytes a signed link downloads (sent as they were stored, never through the JSON serializer). */
const fileContentSchema = z.string().meta({ format: 'binary', description: "The file's bytes" });

function readerOf(request: FastifyRequest): CaseReader {
  return {
    tenant: request.scope.tenant,
    apiKeyId: request.scope.apiKeyId,
    baseUrl: `${request.protocol}://${request.host}`,
  };
}

const present = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === '' ? undefined : value.trim();

/**
 * The partner API's case reads: GET /api/v1/customer-case-detail, GET /api/v1/customer-latest-case-id,
 * GET /api/v1/cases, and the signed download links of case files. Every answer carrying a case is audited
 * as a read of that case by the calling key.
 */
export function caseReadRoutes(cases: CaseReadService, auditLog: AuditLog): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/v1/customer-case-detail',
      {
        // One statement checks the key, reads the case and writes the read's audit event (readCase).
        config: {
          auth: 'apiKey',
          keyConfirmedByWrite: true,
          envelope: 'caseRead',
          audit: { action: 'case.read', resourceType: 'case' },
        },
        schema: {
          tags: ['cases'],
          summary: 'Get a case with its answers, decisions, comments, attachments and payments',
          description:
            'By caseId, or the latest case of the customer with this email. See docs/api/cases.md for every field.',
          security: [{ apiKey: [] }],
          querystring: caseDetailQuerySchema,
          response: {
            200: caseDetailSuccessSchema,
            ...errorResponses('caseRead', [400, 401, 404]),
          },
        },
      },
      async (request) => {
        const { query } = request;
        const caseId = present(query.caseId);
        const email = present(query.email);
        if (caseId === undefined && email === undefined) {
          throw new ApiError(400, "The 'caseId' or 'email' param is required");
        }
        const options = readOptionsOf(query, false);
        const caseDetail = await cases.detail(readerOf(request), { caseId, email }, options, {
          confirmApiKeyId: request.scope.keyToCheckInWrite,
          event: readEventOf(request),
        });
        request.auditRecorded = true;
        request.auditResourceId = caseDetail.id;
        return { status: 200 as const, success: true as const, caseDetail };
      },
    );

    app.get(
      '/api/v1/customer-latest-case-id',
      {
        // Names a case, no PHI: its answer is the id alone; the read is still recorded.
        config: { auth: 'apiKey', envelope: 'latestCaseId', audit: { action: 'case.find', resourceType: 'case' } },
        schema: {
          tags: ['cases'],
          summary: "The id of a customer's latest case",
          description: 'By creation time, among the cases of the customer with this email in the organization.',
          security: [{ apiKey: [] }],
          querystring: latestCaseIdQuerySchema,
          response: {
            200: latestCaseIdSuccessSchema,
            ...errorResponses('latestCaseId', [400, 401, 404]),
          },
        },
      },
      async (request) => {
        const email = present(request.query.email);
        if (email === undefined) throw new ApiError(400, 'Email id not provided!');
        const id = await cases.latestCaseId(request.scope.tenant, email);
        request.auditResourceId = id;
        return { status: 200 as const, success: true as const, case: { id } };
      },
    );

    app.get(
      '/api/v1/cases',
      {
        config: { auth: 'apiKey', envelope: 'caseRead', audit: { action: 'case.list', resourceType: 'case' } },
        schema: {
          tags: ['cases'],
          summary: 'List the cases created in a date range (at most 60 days), oldest first',
          description: 'Cursor paging: pass pageInfo.cursor.end as `after` for the next page. See docs/api/cases.md.',
          security: [{ apiKey: [] }],
          querystring: caseListQuerySchema,
          response: {
            200: caseListSuccessSchema,
            ...errorResponses('caseRead', [400, 401]),
          },
        },
      },
      async (request) => {
        const listRequest = caseListRequestOf(request.query);
        const options = readOptionsOf(request.query, true);
        const page = await cases.list(readerOf(request), listRequest, options);
        request.auditResourceId = page.pageInfo.cursor.start;
        // The request's own event names the page's first case; each case it returns is a read of that case.
        const occurredAt = new Date();
        for (const listed of page.cases) {
          auditLog.record({
            id: randomUUID(),
            organizationId: request.scope.tenant.organizationId,
            apiKeyId: request.scope.apiKeyId,
            action: 'case.read',
            resourceType: 'case',
            resourceId: listed.id,
            outcome: 'success',
            statusCode: 200,
            requestId: request.id,
            clientAddress: request.ip ?? null,
            occurredAt,
          });
        }
        return { status: 200 as const, success: true as const, ...page };
      },
    );

    app.get(
      `${DOWNLOAD_PATH}/:fileId`,
      {
        // The signed link is the credential (it names the organization and the key it was issued to).
        config: { audit: { action: 'file.read', resourceType: 'file' } },
        schema: {
          tags: ['cases'],
          summary: 'Download a case file through a signed link (from a case read with documentFormat=url)',
          description:
            'The link is the credential (no cv-api-key) and works for 15 minutes; any change to it, or its expiry, ' +
            'answers 403. See docs/api/cases.md.',
          params: z.object({ fileId: z.string().max(100).describe('The file (attachment id)') }),
          querystring: z.object({
            organizationId: z.string().max(100).optional().describe('As given in the link'),
            apiKeyId: z.string().max(100).optional().describe('As given in the link'),
            expires: z.string().max(20).optional().describe('As given in the link (Unix seconds)'),
            signature: z.string().max(100).optional().describe('As given in the link'),
          }),
          response: {
            200: {
              description: 'The file, as its own content type (`content-disposition: attachment` names it)',
              content: { '*/*': { schema: fileContentSchema } },
            },
            ...errorResponses('standard', [400, 403]),
          },
        },
      },
      async (request, reply) => {
        const { organizationId, apiKeyId, expires, signature } = request.query;
        const link = {
          organizationId: organizationId ?? '',
          apiKeyId: apiKeyId ?? '',
          fileId: request.params.fileId,
          expires: /^\d{1,12}$/.test(expires ?? '') ? Number(expires) : Number.NaN,
        };
        const file = signature ? await cases.download(link, signature) : null;
        if (!file) return reply.code(403).send(envelopes.standard.error(403, INVALID_LINK));
        request.scope = signedLinkScope(link.organizationId, link.apiKeyId);
        return reply
          .header('content-type', file.contentType)
          .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(file.fileName)}`)
          .send(file.content);
      },
    );
  };
}
