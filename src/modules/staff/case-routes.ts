import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { caseConflictBody, caseConflictSchema, errorResponses, foundCaseSchema } from '../../http/envelopes.ts';
import type { StaffScope } from '../../http/gate.ts';
import { isUuid } from '../../uuid.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { caseObjectSchema } from '../cases/lifecycle/read-schemas.ts';
import { recordsToInclude, type CaseReadOptions } from '../cases/lifecycle/case-serializer.ts';
import { CaseReadRepository, CASE_STATUSES, type CaseStatus } from '../cases/lifecycle/read-repository.ts';
import type { CaseReadService } from '../cases/lifecycle/read-service.ts';
import { OrganizationRepository } from '../organizations/repository.ts';
import { CASE_NOT_FOUND, type ActionResult, type StaffCaseActions } from './case-actions.ts';
import { StaffCaseQueue, type QueueFilter } from './case-queue.ts';
import { PARAMETER_DESCRIPTIONS, textParam } from '../../http/parameters.ts';
import type { StaffPermission } from './roles.ts';

const security = [{ staffSession: [] }];
const DECISION_VISIT_TYPES = [
  'NO_SHOW',
  'ASYNC_TEXT_EMAIL',
  'SYNC_VIDEO',
  'SYNC_PHONE',
  'SYNC_IN_PERSON',
  'ORDER_FORM',
] as const;

const flag = z.enum(['true', 'false']).optional();
const isoTime = z.iso.datetime({ offset: true }).optional();

const queueQuerySchema = z.object({
  status: z
    .string()
    .max(200)
    .optional()
    .describe(`Comma-separated statuses: ${CASE_STATUSES.join(', ')}`),
  organizationId: z
    .uuid()
    .optional()
    .describe('Only cases of this organization (its id, a UUID); one the member does not work for is 404'),
  assigneeId: z.uuid().optional().describe(PARAMETER_DESCRIPTIONS.assigneeId),
  unassigned: flag.describe('"true": only cases nobody is assigned; "false": only assigned ones'),
  archived: flag.describe('Default "false": the open queue; "true": archived cases only'),
  escalated: flag.describe('"true": only escalated cases; "false": only the others'),
  createdFrom: isoTime.describe('Created at or after (ISO 8601)'),
  createdTo: isoTime.describe('Created before (ISO 8601)'),
  state: z
    .string()
    .regex(/^[A-Za-z]{2}$/)
    .optional()
    .describe("The patient's state (shipping address)"),
  search: z.string().max(200).optional().describe('A short id (ABC-DEFGH), an email, or part of a name'),
  limit: z.coerce.number().int().min(1).max(100).default(25).describe('Cases per page, 1 to 100 (default 25)'),
  after: z.string().max(100).optional().describe('nextCursor of the previous page'),
});

export const queueItemSchema = z.object({
  id: z.uuid(),
  organizationId: z.uuid(),
  shortId: z.string(),
  status: z.enum(CASE_STATUSES),
  createdAt: z.string(),
  isArchived: z.boolean(),
  isEscalated: z.boolean(),
  assigneeId: z.uuid().nullable(),
  version: z.number().int(),
  patient: z.object({ firstName: z.string(), lastName: z.string(), email: z.string(), state: z.string().nullable() }),
});

const caseIdParams = z.object({ caseId: textParam('caseId', 100) });
const expectedVersion = z
  .number()
  .int()
  .min(1)
  .optional()
  .describe('The version the member acted on (from a read): the action answers 409 if the case changed since');

const versionOnly = z.strictObject({ expectedVersion }).optional();

const actionResponses = {
  200: z.object({
    success: z.literal(true),
    case: foundCaseSchema,
    commentId: z.uuid().optional().describe('The comment the action added'),
    decisionId: z.uuid().optional().describe('The decision the action added'),
  }),
  409: caseConflictSchema,
  ...errorResponses('standard', [400, 401, 403, 404]),
};

export const medInfoSchema = z.strictObject({
  medicine: z.string().trim().min(1).max(500),
  dosage: z.string().max(500).nullish(),
  refillCount: z.number().int().min(0).max(100).nullish(),
  pharmacyInstructions: z.string().max(2000).nullish(),
  dosingFrequency: z.string().max(500).nullish(),
});

const date = z.iso.date().nullish();

const audit = (action: string) => ({ action, resourceType: 'case' });

function answer(request: FastifyRequest, reply: FastifyReply, result: ActionResult) {
  request.auditOrganizationId = result.organizationId;
  if (!result.ok) return reply.code(409).send(caseConflictBody(result.message, result.found));
  return reply.send({ success: true as const, case: result.case, ...result.created });
}

/**
 * The staff API's cases: the queue, one case through the partner API's serializer (PHI decrypted, every read
 * audited with the staff member's id), and the actions, each a case event in its transaction.
 */
export function staffCaseRoutes(
  deps: { db: Database; caseReads: CaseReadService; auditLog: AuditLog; queueCountCap: number },
  actions: StaffCaseActions,
): FastifyPluginAsyncZod {
  const staffOf = (request: FastifyRequest): StaffScope => request.staff!;
  return async (app) => {
    app.get(
      '/staff/v1/organizations',
      {
        config: { auth: 'staff', staffPermission: 'cases.read', envelope: 'standard' },
        schema: {
          tags: ['staff'],
          summary: 'The organizations the member works for, by name',
          description:
            "Each organization's id and name, for the queue's organization filter (organizationId). A member of " +
            'every organization gets every organization. No PHI.',
          security,
          response: {
            200: z.object({ organizations: z.array(z.object({ id: z.uuid(), name: z.string() })) }),
            ...errorResponses('standard', [401, 403]),
          },
        },
      },
      async (request) => ({
        organizations: await new OrganizationRepository(deps.db).names(staffOf(request).organizationIds),
      }),
    );

    app.get(
      '/staff/v1/cases',
      {
        config: {
          auth: 'staff',
          staffPermission: 'cases.read',
          envelope: 'standard',
          audit: audit('case.list'),
        },
        schema: {
          tags: ['staff'],
          summary: 'The case queue: filtered, searched, oldest first, with counts per status',
          description:
            'Only the cases the member may see: those of their organizations, and for a PROVIDER the cases assigned to ' +
            'them and the unassigned ones of states they are licensed in. Page with after=nextCursor; counts ignore ' +
            'the status filter. Each listed case is audited as a read.',
          security,
          querystring: queueQuerySchema,
          response: {
            200: z.object({
              cases: z.array(queueItemSchema),
              nextCursor: z.string().nullable(),
              counts: z
                .record(z.string(), z.number().int())
                .describe(
                  'Cases per status under the same filters (statuses without cases left out); a count flagged in ' +
                    'countsCapped is the cap: that status has at least that many cases',
                ),
              countsCapped: z
                .record(z.string(), z.boolean())
                .describe(
                  'For each status in counts: true when its count reached the cap (1000 by default), so the count ' +
                    'is a lower bound (shown as "1000+")',
                ),
            }),
            ...errorResponses('standard', [400, 401, 403, 404]),
          },
        },
      },
      async (request) => {
        const staff = staffOf(request);
        const { query } = request;
        const statuses = query.status
          ?.split(',')
          .map((status) => status.trim().toUpperCase())
          .filter(Boolean);
        const unknown = statuses?.filter((status) => !(CASE_STATUSES as readonly string[]).includes(status)) ?? [];
        if (unknown.length > 0) throw new ApiError(400, `status: unknown status ${unknown.join(', ')}`);
        if (query.after !== undefined && !isUuid(query.after))
          throw new ApiError(400, 'after: not a cursor of this queue');
        // An organization the member does not work for reads as one that does not exist, as its cases do.
        if (
          query.organizationId !== undefined &&
          (!staff.worksFor(query.organizationId) ||
            !(await new OrganizationRepository(deps.db).exists(query.organizationId)))
        ) {
          throw new ApiError(404, 'Organization not found');
        }
        const filter: QueueFilter = {
          statuses: statuses && statuses.length > 0 ? (statuses as CaseStatus[]) : undefined,
          organizationId: query.organizationId,
          assigneeId: query.assigneeId,
          unassigned: query.unassigned === undefined ? undefined : query.unassigned === 'true',
          archived: query.archived === 'true',
          escalated: query.escalated === undefined ? undefined : query.escalated === 'true',
          createdFrom: query.createdFrom === undefined ? undefined : new Date(query.createdFrom),
          createdTo: query.createdTo === undefined ? undefined : new Date(query.createdTo),
          patientState: query.state,
          search: query.search,
        };
        const queue = new StaffCaseQueue(deps.db, staff, deps.queueCountCap);
        if (query.after !== undefined && !(await queue.state(query.after))) {
          throw new ApiError(400, 'after: not a cursor of this queue');
        }
        const [rows, { counts, capped }] = await Promise.all([
          queue.page(filter, query.after, query.limit + 1),
          queue.counts(filter),
        ]);
        const page = rows.slice(0, query.limit);
        // The queue shows names and emails: each listed case is a read of that case by this member.
        const occurredAt = new Date();
        for (const row of page) {
          deps.auditLog.record({
            id: randomUUID(),
            organizationId: row.organization_id,
            apiKeyId: null,
            staffId: staff.staffId,
            action: 'case.read',
            resourceType: 'case',
            resourceId: row.id,
            outcome: 'success',
            statusCode: 200,
            requestId: request.id,
            clientAddress: request.ip ?? null,
            occurredAt,
          });
        }
        return {
          cases: page.map((row) => ({
            id: row.id,
            organizationId: row.organization_id,
            shortId: row.short_id,
            status: row.status,
            createdAt: row.created_at.toISOString(),
            isArchived: row.is_archived,
            isEscalated: row.is_escalated,
            assigneeId: row.assignee_staff_id,
            version: row.version,
            patient: {
              firstName: row.patient_first_name,
              lastName: row.patient_last_name,
              email: row.patient_email,
              state: row.patient_state,
            },
          })),
          nextCursor: rows.length > query.limit ? page[page.length - 1]!.id : null,
          counts,
          countsCapped: capped,
        };
      },
    );

    app.get(
      '/staff/v1/cases/:caseId',
      {
        config: { auth: 'staff', staffPermission: 'cases.read', envelope: 'standard', audit: audit('case.read') },
        schema: {
          tags: ['staff'],
          summary: 'One case, as the partner API shows it, with its assignee and version',
          description:
            'Files carry a signed URL unless includeAttachments=true. ' +
            'A case outside what the member may see is 404, like one that does not exist. Send the version back as ' +
            'expectedVersion with an action, so a case changed meanwhile answers 409 instead of being acted on twice.',
          security,
          params: caseIdParams,
          querystring: z.object({
            includeAttachments: flag.describe(
              '"true": attachments with their base64 content; otherwise each carries a signed URL (15 minutes, ' +
                'for this member, with their session)',
            ),
          }),
          response: {
            200: z.object({
              caseDetail: caseObjectSchema,
              assigneeId: z.uuid().nullable(),
              version: z.number().int(),
            }),
            ...errorResponses('standard', [401, 403, 404]),
          },
        },
      },
      async (request) => {
        const staff = staffOf(request);
        const { caseId } = request.params;
        const state = isUuid(caseId) ? await new StaffCaseQueue(deps.db, staff).state(caseId) : null;
        const tenant = state ? staff.tenantFor(state.organization_id) : null;
        if (!state || !tenant) throw new ApiError(404, CASE_NOT_FOUND);
        request.auditOrganizationId = state.organization_id;
        const options: CaseReadOptions = {
          includeAttachments: true,
          documentFormat: request.query.includeAttachments === 'true' ? 'base64' : 'url',
          includeOrders: false,
          includeCalendarEvents: false,
          includeCaseProducts: false,
          includeInternalNotes: true,
        };
        const [row] = await new CaseReadRepository(deps.db, tenant).findCases([caseId], recordsToInclude(options));
        if (!row) throw new ApiError(404, CASE_NOT_FOUND);
        const [caseDetail] = await deps.caseReads.serializer.serialize(
          deps.db,
          // Staff links name the member: they work only with this member's session (GET /staff/v1/case-files).
          { tenant, apiKeyId: staff.staffId, baseUrl: `${request.protocol}://${request.host}`, staff: true },
          [row],
          options,
        );
        return { caseDetail: caseDetail!, assigneeId: state.assignee_staff_id, version: state.version };
      },
    );

    const route = <Params extends z.ZodType, Body extends z.ZodType>(
      permission: StaffPermission,
      action: string,
      doc: { summary: string; description: string },
      body: Body,
      params: Params,
    ) => ({
      config: {
        auth: 'staff' as const,
        staffPermission: permission,
        envelope: 'standard' as const,
        audit: audit(action),
      },
      schema: { tags: ['staff'], ...doc, security, params, body, response: actionResponses },
    });

    app.post(
      '/staff/v1/cases/:caseId/assign',
      route(
        'cases.assign',
        'case.assign',
        {
          summary: 'Assign the case (status ASSIGNED); a PROVIDER assigns themselves only',
          description:
            'assigneeId must be an active staff member of the case’s organization (else 400). An archived case, or one ' +
            'not OPEN, ASSIGNED or IN_PROGRESS, is 409 with the case as found; assigning the current assignee again ' +
            'changes nothing.',
        },
        z.strictObject({ assigneeId: z.string().max(100), expectedVersion }),
        caseIdParams,
      ),
      async (request, reply) => {
        const { assigneeId, expectedVersion: version } = request.body;
        return answer(
          request,
          reply,
          await actions.assign(staffOf(request), request.params.caseId, assigneeId, version),
        );
      },
    );

    // The actions whose body is an expectedVersion at most: path, permission, audit action, documentation, service.
    const versionedActions: {
      path: string;
      permission: StaffPermission;
      action: string;
      doc: { summary: string; description: string };
      run: (staff: StaffScope, caseId: string, version: number | undefined) => Promise<ActionResult>;
    }[] = [
      {
        path: 'unassign',
        permission: 'cases.assign',
        action: 'case.unassign',
        doc: {
          summary: 'Remove the assignee (status OPEN)',
          description:
            '409 with the case as found when it has no assignee, is archived or is no longer being worked (OPEN, ' +
            'ASSIGNED, IN_PROGRESS); a PROVIDER unassigns only cases assigned to them.',
        },
        run: (staff, caseId, version) => actions.unassign(staff, caseId, version),
      },
      {
        path: 'start-review',
        permission: 'cases.status',
        action: 'case.review',
        doc: {
          summary: 'Start the review of an ASSIGNED case (status IN_PROGRESS)',
          description:
            'Any other status, or an archived case, is 409 with the case as found; a PROVIDER starts only the review ' +
            'of a case assigned to them.',
        },
        run: (staff, caseId, version) => actions.startReview(staff, caseId, version),
      },
      {
        path: 'reopen',
        permission: 'cases.status',
        action: 'case.reopen',
        doc: {
          summary: 'Reopen an archived case (REOPEN_CASE); the status stays',
          description:
            'Puts the case back in the open queue. A case that is not archived is 409; a PROVIDER reopens only cases ' +
            'assigned to them.',
        },
        run: (staff, caseId, version) => actions.reopen(staff, caseId, version),
      },
      {
        path: 'escalate',
        permission: 'cases.status',
        action: 'case.escalate',
        doc: {
          summary: 'Escalate the case (ESCALATE_CASE): isEscalated true; the status stays',
          description:
            'A case already escalated, or archived, is 409 with the case as found; a PROVIDER escalates only cases ' +
            'assigned to them. The queue filters on it (escalated=true).',
        },
        run: (staff, caseId, version) => actions.setEscalated(staff, caseId, true, version),
      },
      {
        path: 'deescalate',
        permission: 'cases.status',
        action: 'case.deescalate',
        doc: {
          summary: 'De-escalate the case (DEESCALATE_CASE): isEscalated false',
          description:
            'A case not escalated, or archived, is 409 with the case as found; a PROVIDER de-escalates only cases ' +
            'assigned to them.',
        },
        run: (staff, caseId, version) => actions.setEscalated(staff, caseId, false, version),
      },
    ];
    for (const { path, permission, action, doc, run } of versionedActions) {
      app.post(
        `/staff/v1/cases/:caseId/${path}`,
        route(permission, action, doc, versionOnly, caseIdParams),
        async (request, reply) =>
          answer(request, reply, await run(staffOf(request), request.params.caseId, request.body?.expectedVersion)),
      );
    }

    app.post(
      '/staff/v1/cases/:caseId/archive',
      route(
        'cases.status',
        'case.archive',
        {
          summary: 'Archive the case (ARCHIVE_CASE) as COMPLETE or INELIGIBLE, with a note; the status stays',
          description:
            'Takes the case out of the open queue (archived=true lists it) and records who closed it. A case already ' +
            'archived is 409; a PROVIDER archives only cases assigned to them.',
        },
        z.strictObject({
          archiveReason: z.enum(['COMPLETE', 'INELIGIBLE']),
          archiveNote: z.string().max(5000).nullish(),
          expectedVersion,
        }),
        caseIdParams,
      ),
      async (request, reply) => {
        const { archiveReason, archiveNote, expectedVersion: version } = request.body;
        const archive = { reason: archiveReason, note: archiveNote ?? null };
        return answer(request, reply, await actions.archive(staffOf(request), request.params.caseId, archive, version));
      },
    );

    app.post(
      '/staff/v1/cases/:caseId/decisions',
      route(
        'cases.decide',
        'case.decide',
        {
          summary: "Decide the case (ADD_CASE_DECISION): only its assigned PROVIDER, licensed in the patient's state",
          description:
            'The status becomes APPROVED (isApproved), NO_DECISION (isNoDecision; both true is 400) or REJECTED. The ' +
            'case must be ASSIGNED or IN_PROGRESS, not archived, and assigned to the caller, else 409; other roles, ' +
            'and a provider not licensed in the patient’s state, are 403. The answer names the new decisionId.',
        },
        z.strictObject({
          isApproved: z.boolean().default(false),
          isNoDecision: z.boolean().default(false),
          decisionText: z.string().max(10_000).nullish(),
          visitType: z.enum(DECISION_VISIT_TYPES).nullish(),
          startDate: date,
          endDate: date,
          medInfo: z.array(medInfoSchema).max(50).default([]),
          expectedVersion,
        }),
        caseIdParams,
      ),
      async (request, reply) => {
        const { expectedVersion: version, ...decision } = request.body;
        return answer(request, reply, await actions.decide(staffOf(request), request.params.caseId, decision, version));
      },
    );

    app.post(
      '/staff/v1/cases/:caseId/comments',
      route(
        'cases.comment',
        'case.comment',
        {
          summary: 'Comment on the case (ADD_CASE_COMMENT), or with isRestricted an internal note',
          description:
            'The text is sealed like a partner’s comment; the author is the member. A comment shows in the partner’s ' +
            'case and is sent as ADD_CASE_COMMENT; an internal note (isRestricted: true) only ever shows to staff and ' +
            'is sent to no webhook. An archived case is 409. The answer names the new commentId.',
        },
        z.strictObject({
          text: z.string().min(1).max(20_000),
          isRestricted: z.boolean().default(false).describe('true: an internal note, never shown to the partner'),
          expectedVersion,
        }),
        caseIdParams,
      ),
      async (request, reply) => {
        const { text, isRestricted, expectedVersion: version } = request.body;
        const result = await actions.addComment(
          staffOf(request),
          request.params.caseId,
          { text, isRestricted },
          version,
        );
        return answer(request, reply, result);
      },
    );

    // Deleting what a case gathered, named in the path: kept, marked deleted, and shown by no read.
    const deletions: {
      kind: 'decisions' | 'comments';
      param: 'decisionId' | 'commentId';
      permission: StaffPermission;
      action: string;
      doc: { summary: string; description: string };
      run: (staff: StaffScope, caseId: string, id: string, version: number | undefined) => Promise<ActionResult>;
    }[] = [
      {
        kind: 'decisions',
        param: 'decisionId',
        permission: 'cases.decide',
        action: 'case.decision.delete',
        doc: {
          summary: 'Delete the decision (DECISION_DELETED): the case goes back to IN_PROGRESS, to be decided again',
          description:
            'Only the PROVIDER the case is assigned to, on a decided case (APPROVED, REJECTED, NO_DECISION) that is ' +
            'not archived, else 409 with the case as found. The decision is kept, marked deleted, and no read shows ' +
            'it. An unknown decision of this case is 404.',
        },
        run: (staff, caseId, id, version) => actions.deleteDecision(staff, caseId, id, version),
      },
      {
        kind: 'comments',
        param: 'commentId',
        permission: 'cases.comment',
        action: 'case.comment.delete',
        doc: {
          summary: 'Delete a staff comment or internal note (DELETE_CASE_COMMENT): its author or an ADMIN',
          description:
            'The comment is kept, marked deleted, and no read shows it; the event is sent only when the comment was ' +
            '(an internal note’s deletion is not). A partner’s comment is 403; an unknown one 404; an archived case 409.',
        },
        run: (staff, caseId, id, version) => actions.deleteComment(staff, caseId, id, version),
      },
    ];
    for (const { kind, param, permission, action, doc, run } of deletions) {
      const params = z.object({
        caseId: textParam('caseId', 100),
        [param]: z.string().max(100).describe(`The id of one of the case's ${kind}`),
      });
      app.delete(
        `/staff/v1/cases/:caseId/${kind}/:${param}`,
        route(permission, action, doc, versionOnly, params),
        async (request, reply) => {
          const { caseId, [param]: id } = request.params;
          return answer(request, reply, await run(staffOf(request), caseId!, id!, request.body?.expectedVersion));
        },
      );
    }
  };
}
