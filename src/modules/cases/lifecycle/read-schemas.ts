import { z } from 'zod';
import { ApiError } from '../../../http/api-error.ts';
import type { CaseReadOptions } from './case-serializer.ts';
import { CASE_STATUSES, MAX_RECORDS_PER_PAGE, type CaseStatus } from './read-repository.ts';
import { MAX_LIST_RANGE_DAYS, type CaseListRequest } from './read-service.ts';

/**
 * The query strings and bodies of the case read endpoints. Query values arrive as text; they are checked
 * here with the messages of docs/api/cases.md (the published pages give none for these endpoints).
 */

const flag = (description: string) =>
  z.enum(['true', 'false'], { error: 'must be "true" or "false"' }).optional().describe(description);

const includeFlags = {
  includeAttachments: flag('"true": attachments of the case and its comments, with their content or a signed URL'),
  documentFormat: z
    .string()
    .max(16)
    .optional()
    .describe('`base64` (default): a `content` key; `url`: a `url` key, a download link valid 15 minutes'),
  includeOrders: flag('"true": pharmacy orders (`orders`)'),
  includeCalendarEvents: flag('"true": calendar events (`calendarEvents`)'),
  includeCaseProducts: flag('"true": case products (`caseProducts`)'),
};

export const caseDetailQuerySchema = z.object({
  caseId: z.string().max(200).optional().describe('The case id; one of caseId and email is required'),
  email: z.string().max(320).optional().describe("The submitter's email: their latest case"),
  ...includeFlags,
});

export const latestCaseIdQuerySchema = z.object({
  email: z.string().max(320).optional().describe("The customer's email (required)"),
});

export const caseListQuerySchema = z.object({
  startTime: z
    .string()
    .max(64)
    .optional()
    .describe('Required. ISO 8601 date-time, e.g. 2024-01-01T00:00:00Z (inclusive)'),
  endTime: z
    .string()
    .max(64)
    .optional()
    .describe(`Required. ISO 8601 date-time (exclusive), later than startTime, at most ${MAX_LIST_RANGE_DAYS} days on`),
  status: z
    .string()
    .max(200)
    .optional()
    .describe(`Comma-separated statuses: ${CASE_STATUSES.join(', ')}`),
  recordsPerPage: z.string().max(16).optional().describe('Cases per page, 1 to 100 (default 20)'),
  after: z.string().max(200).optional().describe('cursor.end of the previous page'),
  ...includeFlags,
});

type IncludeQuery = { [K in keyof typeof includeFlags]?: string | undefined };

/** The include flags of a case read; `documentFormatRequired`: the case list asks for it with attachments. */
export function readOptionsOf(query: IncludeQuery, documentFormatRequired: boolean): CaseReadOptions {
  const includeAttachments = query.includeAttachments === 'true';
  const format = query.documentFormat?.toLowerCase();
  if (format !== undefined && format !== 'base64' && format !== 'url') {
    throw new ApiError(400, "documentFormat must be 'base64' or 'url'");
  }
  if (includeAttachments && documentFormatRequired && format === undefined) {
    throw new ApiError(400, "The 'documentFormat' param is required when includeAttachments is true");
  }
  return {
    includeAttachments,
    documentFormat: format ?? 'base64',
    includeOrders: query.includeOrders === 'true',
    includeCalendarEvents: query.includeCalendarEvents === 'true',
    includeCaseProducts: query.includeCaseProducts === 'true',
  };
}

const ISO_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;

function dateTimeOf(name: string, value: string | undefined): Date {
  if (value === undefined || value.trim() === '') throw new ApiError(400, `The '${name}' param is required`);
  const match = ISO_DATE_TIME.exec(value.trim());
  const time = match ? Date.parse(value.trim()) : Number.NaN;
  // Date.parse rolls 2024-02-30 over to March; a day that does not exist is refused instead.
  const [, year, month, day] = match ?? [];
  const valid =
    Number.isFinite(time) &&
    new Date(Date.UTC(Number(year), Number(month) - 1, Number(day))).getUTCDate() === Number(day);
  if (!valid) throw new ApiError(400, `${name} must be an ISO 8601 date-time, e.g. 2024-01-01T00:00:00Z`);
  return new Date(time);
}

const DAY_MS = 24 * 60 * 60 * 1000;

export function caseListRequestOf(query: z.infer<typeof caseListQuerySchema>): CaseListRequest {
  const startTime = dateTimeOf('startTime', query.startTime);
  const endTime = dateTimeOf('endTime', query.endTime);
  if (endTime.getTime() <= startTime.getTime()) throw new ApiError(400, 'endTime must be later than startTime');
  if (endTime.getTime() - startTime.getTime() > MAX_LIST_RANGE_DAYS * DAY_MS) {
    throw new ApiError(400, `The range from startTime to endTime must not exceed ${MAX_LIST_RANGE_DAYS} days`);
  }

  const statuses = caseStatusesOf(query.status);

  let recordsPerPage = 20;
  if (query.recordsPerPage !== undefined) {
    recordsPerPage = /^\d{1,3}$/.test(query.recordsPerPage.trim()) ? Number(query.recordsPerPage.trim()) : 0;
    if (recordsPerPage < 1 || recordsPerPage > MAX_RECORDS_PER_PAGE) {
      throw new ApiError(400, `recordsPerPage must be an integer from 1 to ${MAX_RECORDS_PER_PAGE}`);
    }
  }

  const after = query.after?.trim();
  return { startTime, endTime, statuses, after: after === '' ? undefined : after, recordsPerPage };
}

const timestamp = z.string().describe('ISO 8601');
const nullableTimestamp = timestamp.nullable();
const looseObject = z.record(z.string(), z.unknown());
const staffNameSchema = z.object({ id: z.string(), firstName: z.string(), lastName: z.string() });

export const attachmentSchema = z.object({
  id: z.string(),
  fileName: z.string(),
  contentType: z.string(),
  size: z.number().nullable(),
  isPHI: z.boolean(),
  isRestricted: z.boolean(),
  isDeleted: z.boolean(),
  createdAt: timestamp,
  uploadedBy: looseObject.nullable(),
  content: z.string().nullable().optional().describe('base64 (documentFormat=base64)'),
  url: z
    .string()
    .optional()
    .describe('A download link valid 15 minutes (documentFormat=url), or the URL sent at intake'),
});

/** The case object of the case detail and the case list (docs/api/cases.md lists every field). */
export const caseObjectSchema = z.object({
  id: z.string(),
  organizationId: z.string(),
  type: z.string().nullable(),
  title: z.string().nullable(),
  status: z.enum(CASE_STATUSES),
  shortId: z.string(),
  createdAt: timestamp,
  updatedAt: timestamp,
  assignedAt: nullableTimestamp,
  inProgressAt: nullableTimestamp,
  closedAt: nullableTimestamp,
  closedBy: z.string().nullable(),
  inProgressBy: z.string().nullable(),
  isArchived: z.boolean(),
  isEscalated: z.boolean(),
  isImported: z.boolean(),
  referralCode: z.string().nullable(),
  archiveReason: z.enum(['COMPLETE', 'INELIGIBLE']).nullable(),
  archiveNote: z.string().nullable(),
  productBundleId: z.string().nullable(),
  productBundle: z.object({ id: z.string(), name: z.string() }).nullable(),
  submitter: z.object({
    id: z.string(),
    email: z.string(),
    firstName: z.string(),
    lastName: z.string(),
    dob: z.string().nullable(),
    gender: z.string().nullable(),
    phoneNumber: z.string().nullable(),
  }),
  assignedTo: staffNameSchema.nullable().describe('The staff member the case is assigned to (the provider)'),
  assignedBy: staffNameSchema.nullable().describe('The staff member who made the assignment'),
  assignees: z.array(z.object({ assignee: staffNameSchema })).describe('The current assignee, or none'),
  responses: z.array(
    z.object({
      id: z.string(),
      createdAt: timestamp,
      form: z.object({ id: z.string(), name: z.string(), description: z.string().nullable() }),
      responses: z.array(
        z.object({
          id: z.string(),
          question: z.object({
            id: z.string(),
            index: z.number(),
            type: z.string(),
            text: z.string(),
            isPHI: z.boolean(),
            required: z.boolean(),
            options: z.array(z.unknown()),
            hint: z.string().nullable(),
            placeholder: z.string().nullable(),
          }),
          answer: z.unknown().describe('The answer as stored (a string, a list, an object for files)'),
          text: z.string().describe('The answer as text'),
        }),
      ),
    }),
  ),
  decisions: z.array(
    z.object({
      id: z.string(),
      isApproved: z.boolean(),
      isNoDecision: z.boolean(),
      startDate: z.string().nullable(),
      endDate: z.string().nullable(),
      decisionText: z.string().nullable(),
      category: z.string().nullable(),
      visitType: z.string().nullable(),
      createdAt: timestamp,
      addedBy: looseObject.nullable(),
      medInfo: z.array(z.unknown()),
    }),
  ),
  comments: z.array(
    z.object({
      id: z.string(),
      text: z.string(),
      isRestricted: z.boolean(),
      createdAt: timestamp,
      author: looseObject.nullable(),
      attachments: z.array(attachmentSchema),
    }),
  ),
  attachments: z.array(attachmentSchema),
  payments: z.array(
    z.object({
      id: z.string(),
      amount: z.number().describe('Dollars'),
      currency: z.string(),
      status: z.string(),
      description: z.string().nullable(),
      createdAt: timestamp,
    }),
  ),
  orders: z.array(looseObject).optional(),
  calendarEvents: z.array(looseObject).optional(),
  caseProducts: z.array(looseObject).optional(),
});

export const caseDetailSuccessSchema = z.object({
  status: z.literal(200),
  success: z.literal(true),
  caseDetail: caseObjectSchema,
});

export const caseListSuccessSchema = z.object({
  status: z.literal(200),
  success: z.literal(true),
  cases: z.array(caseObjectSchema),
  pageInfo: z.object({
    cursor: z.object({ start: z.string().nullable(), end: z.string().nullable() }),
    hasNextPage: z.boolean(),
    hasPreviousPage: z.boolean(),
  }),
});

export const latestCaseIdSuccessSchema = z.object({
  status: z.literal(200),
  success: z.literal(true),
  case: z.object({ id: z.string() }),
});

/** A comma-separated `status` filter (any case), each status once; absent or blank filters nothing. */
export function caseStatusesOf(value: string | undefined): CaseStatus[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const statuses = new Set<CaseStatus>();
  for (const part of value.split(',')) {
    const status = part.trim().toUpperCase();
    if (!(CASE_STATUSES as readonly string[]).includes(status)) {
      throw new ApiError(400, `Invalid status '${part.trim()}': use ${CASE_STATUSES.join(', ')}`);
    }
    statuses.add(status as CaseStatus);
  }
  return [...statuses];
}
