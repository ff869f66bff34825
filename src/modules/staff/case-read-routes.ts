import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { envelopes, errorResponses } from '../../http/envelopes.ts';
import type { StaffScope } from '../../http/gate.ts';
import { textParam } from '../../http/parameters.ts';
import { isUuid } from '../../uuid.ts';
import { CASE_EVENT_TYPES, publishedEventOf, type CaseEventType } from '../cases/lifecycle/events.ts';
import type { CaseReadService } from '../cases/lifecycle/read-service.ts';
import { STAFF_DOWNLOAD_PATH } from '../cases/lifecycle/signed-urls.ts';
import { CASE_NOT_FOUND } from './case-actions.ts';
import { StaffCaseQueue, type CaseState } from './case-queue.ts';
import { STAFF_ROLES } from './roles.ts';

const security = [{ staffSession: [] }];
const caseIdParams = z.object({ caseId: textParam('caseId', 100) });

const assigneeSchema = z.object({
  staffId: z.uuid(),
  firstName: z.string(),
  lastName: z.string(),
  role: z.enum(STAFF_ROLES),
  title: z.string().nullable(),
  licensedStates: z.array(z.string()).describe("A PROVIDER's licensed states (empty for other roles)"),
  licensedForCase: z.boolean().describe("A PROVIDER licensed in the patient's state (false for other roles)"),
});

const eventSchema = z.object({
  id: z.uuid(),
  seq: z.string().describe('The order of the events, as written'),
  type: z.string().describe('case.<what happened>, e.g. case.assignee_added'),
  publishedAs: z.string().nullable().describe('The webhook event it is sent as (ADD_CASE_ASSIGNEE, ...)'),
  actor: z.object({
    kind: z.enum(['api_key', 'operator', 'system', 'staff']),
    id: z.string().nullable(),
    name: z.string().nullable().describe("A staff member's name; null for the other kinds"),
  }),
  before: z.record(z.string(), z.unknown()).nullable().describe('The case fields before (ids and states, no PHI)'),
  after: z.record(z.string(), z.unknown()).nullable().describe('The case fields after (ids and states, no PHI)'),
  createdAt: z.string(),
});

interface EventRow {
  id: string;
  seq: string;
  type: string;
  actor_kind: 'api_key' | 'operator' | 'system' | 'staff';
  actor_id: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  created_at: Date;
  first_name: string | null;
  last_name: string | null;
}

interface AssigneeRow {
  id: string;
  first_name: string;
  last_name: string;
  role: (typeof STAFF_ROLES)[number];
  title: string | null;
  licensed_states: string[];
}

/**
 * What the case page reads beside the case itself: the members it may be assigned to, and its timeline from the
 * case events. Both start from the member's visibility (StaffCaseQueue.state): a case they may not see is 404.
 */
export function staffCaseReadRoutes(deps: { db: Database; caseReads: CaseReadService }): FastifyPluginAsyncZod {
  const visibleCase = async (request: FastifyRequest, caseId: string): Promise<CaseState> => {
    const staff: StaffScope = request.staff!;
    const state = isUuid(caseId) ? await new StaffCaseQueue(deps.db, staff).state(caseId) : null;
    if (!state || !staff.tenantFor(state.organization_id)) throw new ApiError(404, CASE_NOT_FOUND);
    request.auditOrganizationId = state.organization_id;
    return state;
  };

  return async (app) => {
    app.get(
      '/staff/v1/cases/:caseId/assignees',
      {
        config: {
          auth: 'staff',
          staffPermission: 'cases.assign',
          envelope: 'standard',
          audit: { action: 'case.assignees', resourceType: 'case' },
        },
        schema: {
          tags: ['staff'],
          summary: 'The staff members the caller may assign this case to',
          description:
            'The active members who work for the case’s organization, with their role and licensed states (never a ' +
            'secret), providers licensed in the patient’s state first. A PROVIDER assigns only themselves, so the ' +
            'list holds only them. A case the member may not see is 404.',
          security,
          params: caseIdParams,
          response: {
            200: z.object({ assignees: z.array(assigneeSchema) }),
            ...errorResponses('standard', [401, 403, 404]),
          },
        },
      },
      async (request) => {
        const staff = request.staff!;
        const state = await visibleCase(request, request.params.caseId);
        const { rows } = await deps.db.query<AssigneeRow>(
          `select s.id, s.first_name, s.last_name, s.role, s.title, s.licensed_states
             from staff_members s
            where s.disabled_at is null
              and (s.all_organizations
                   or exists (select 1 from staff_organizations so
                               where so.staff_id = s.id and so.organization_id = $1))
              and ($2::uuid is null or s.id = $2::uuid)
            order by s.last_name, s.first_name, s.id`,
          [state.organization_id, staff.role === 'PROVIDER' ? staff.staffId : null],
        );
        const licensed = (row: AssigneeRow) =>
          row.role === 'PROVIDER' && state.patient_state !== null && row.licensed_states.includes(state.patient_state);
        const assignees = rows.map((row) => ({
          staffId: row.id,
          firstName: row.first_name,
          lastName: row.last_name,
          role: row.role,
          title: row.title,
          licensedStates: row.licensed_states,
          licensedForCase: licensed(row),
        }));
        // Stable sort: licensed providers first, then by name as read.
        assignees.sort((a, b) => Number(b.licensedForCase) - Number(a.licensedForCase));
        return { assignees };
      },
    );

    app.get(
      '/staff/v1/cases/:caseId/events',
      {
        config: {
          auth: 'staff',
          staffPermission: 'cases.read',
          envelope: 'standard',
          audit: { action: 'case.events.read', resourceType: 'case' },
        },
        schema: {
          tags: ['staff'],
          summary: 'The case’s timeline: its case events, oldest first, paged',
          description:
            'Every change to the case as recorded with it (who, what, the case’s fields before and after), ' +
            'including those sent to no webhook (internal notes). Events hold ids and states, never PHI; the ' +
            'texts of comments and notes are in the case read. Page with after=nextCursor. A case the member may ' +
            'not see is 404.',
          security,
          params: caseIdParams,
          querystring: z.object({
            limit: z.coerce.number().int().min(1).max(200).default(100).describe('Events per page, 1 to 200'),
            after: z
              .string()
              .regex(/^\d{1,19}$/)
              .optional()
              .describe('nextCursor of the previous page'),
          }),
          response: {
            200: z.object({ events: z.array(eventSchema), nextCursor: z.string().nullable() }),
            ...errorResponses('standard', [400, 401, 403, 404]),
          },
        },
      },
      async (request) => {
        const state = await visibleCase(request, request.params.caseId);
        const { limit, after } = request.query;
        const { rows } = await deps.db.query<EventRow>(
          `select e.id, e.seq::text as seq, e.type, e.actor_kind, e.actor_id, e.before, e.after, e.created_at,
                  s.first_name, s.last_name
             from case_events e
             left join staff_members s on e.actor_kind = 'staff' and s.id::text = e.actor_id
            where e.organization_id = $1 and e.case_id = $2 and e.seq > $3::bigint
            order by e.seq
            limit $4`,
          [state.organization_id, state.id, after ?? '0', limit + 1],
        );
        const page = rows.slice(0, limit);
        return {
          events: page.map((row) => ({
            id: row.id,
            seq: row.seq,
            type: row.type,
            publishedAs: row.type in CASE_EVENT_TYPES ? publishedEventOf(row.type as CaseEventType) : null,
            actor: {
              kind: row.actor_kind,
              id: row.actor_id,
              name: row.first_name === null ? null : `${row.first_name} ${row.last_name}`,
            },
            before: row.before,
            after: row.after,
            createdAt: row.created_at.toISOString(),
          })),
          nextCursor: rows.length > limit ? page[page.length - 1]!.seq : null,
        };
      },
    );

    app.get(
      `${STAFF_DOWNLOAD_PATH}/:fileId`,
      {
        config: {
          auth: 'staff',
          staffPermission: 'cases.read',
          envelope: 'standard',
          audit: { action: 'file.read', resourceType: 'file' },
        },
        schema: {
          tags: ['staff'],
          summary: 'Download a case file through a staff link (from a staff case read)',
          description:
            'The link (signed, 15 minutes) names the member it was made for: it works only with that member’s ' +
            'session, in an organization they work for; a changed, expired or another member’s link is 403. Every ' +
            'download is audited with the member’s id. The console previews images and PDFs from it.',
          security,
          params: z.object({ fileId: z.string().max(100).describe('The file (attachment id)') }),
          querystring: z.object({
            organizationId: z.string().max(100).optional().describe('As given in the link'),
            staffId: z.string().max(100).optional().describe('As given in the link'),
            expires: z.string().max(20).optional().describe('As given in the link (Unix seconds)'),
            signature: z.string().max(100).optional().describe('As given in the link'),
          }),
          response: {
            200: {
              description: 'The file, as its own content type (`content-disposition: attachment` names it)',
              content: { '*/*': { schema: z.string().meta({ format: 'binary', description: "The file's bytes" }) } },
            },
            ...errorResponses('standard', [401, 403]),
          },
        },
      },
      async (request, reply) => {
        const staff = request.staff!;
        const { organizationId, staffId, expires, signature } = request.query;
        const link = {
          organizationId: organizationId ?? '',
          apiKeyId: staffId ?? '',
          fileId: request.params.fileId,
          expires: /^\d{1,12}$/.test(expires ?? '') ? Number(expires) : Number.NaN,
          staff: true,
        };
        const mine = staffId === staff.staffId && isUuid(link.organizationId) && staff.tenantFor(link.organizationId);
        const file = mine && signature ? await deps.caseReads.download(link, signature) : null;
        if (!file)
          return reply.code(403).send(envelopes.standard.error(403, 'This download link is invalid or has expired'));
        request.auditOrganizationId = link.organizationId;
        return reply
          .header('content-type', file.contentType)
          .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(file.fileName)}`)
          .send(file.content);
      },
    );
  };
}
