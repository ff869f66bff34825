import { prepared, type Queryable } from '../../../db/database.ts';
import type { Tenant } from '../../../http/gate.ts';
import { eventParams, insertEventSql, type AuditEvent } from '../../audit/repository.ts';
import { activeKeyCondition } from '../../organizations/repository.ts';

/** A case row with its submitter and product bundle, as every case read starts from it. */
export interface CaseRow {
  id: string;
  organization_id: string;
  short_id: string;
  type: string | null;
  title: string | null;
  status: CaseStatus;
  created_at: Date;
  updated_at: Date;
  assigned_at: Date | null;
  in_progress_at: Date | null;
  closed_at: Date | null;
  closed_by: string | null;
  is_archived: boolean;
  is_escalated: boolean;
  archive_reason: 'COMPLETE' | 'INELIGIBLE' | null;
  archive_note: string | null;
  product_bundle_id: string | null;
  product_bundle_name: string | null;
  patient_id: string;
  patient_email: string;
  patient_first_name: string;
  patient_last_name: string;
  patient_dob: string | null;
  patient_gender: string | null;
  patient_phone_number: string | null;
  /** The staff member the case is assigned to, and the one who assigned it: `{id, firstName, lastName}`. */
  assigned_to: StaffName | null;
  assigned_by: StaffName | null;
}

/** A staff member as the published case names one (assignedTo, assignedBy, assignees[].assignee). */
export interface StaffName {
  id: string;
  firstName: string;
  lastName: string;
}

/** A case with everything the serializer shows of it: each kind of record a JSON array, in its order. */
export interface CaseRecord extends CaseRow {
  form_responses: FormResponseRecord[];
  decisions: DecisionRecord[];
  comments: CommentRecord[];
  /** Empty unless the read includes files. */
  files: CaseFileRecord[];
  payments: PaymentRecord[];
}

/** Times inside the records are JSON text (ISO 8601 with microseconds and an offset), as PostgreSQL writes them. */
type JsonTime = string;

export interface FormResponseRecord {
  id: string;
  created_at: JsonTime;
  form_id: string;
  form_title: string;
  form_description: string | null;
  answers: AnswerRecord[];
}

export interface AnswerRecord {
  id: string;
  question_id: string;
  position: number;
  question: string;
  question_type: string;
  phi: boolean;
  required: boolean;
  options: unknown[];
  hint: string | null;
  placeholder: string | null;
  value: unknown;
  encrypted_value: string | null;
}

export interface DecisionRecord {
  id: string;
  is_approved: boolean;
  is_no_decision: boolean;
  decision_text: string | null;
  category: string | null;
  visit_type: string | null;
  start_date: string | null;
  end_date: string | null;
  med_info: unknown[];
  added_by: Record<string, unknown> | null;
  created_at: JsonTime;
}

export interface CommentRecord {
  id: string;
  encrypted_text: string;
  is_restricted: boolean;
  author: Record<string, unknown> | null;
  created_at: JsonTime;
}

/** A file of a case: an intake file (answer) or a case attachment (comment_id set when on a comment). */
export interface CaseFileRecord {
  id: string;
  comment_id: string | null;
  file_name: string;
  content_type: string;
  size_bytes: number | null;
  storage_key: string | null;
  url: string | null;
  is_phi: boolean;
  is_restricted: boolean;
  is_deleted: boolean;
  uploaded_by: Record<string, unknown> | null;
  created_at: JsonTime;
}

export interface PaymentRecord {
  id: string;
  amount_cents: number;
  currency: string;
  status: string;
  description: string | null;
  created_at: JsonTime;
}

/** What a case read gathers besides the case and its records: files, and the clinic's internal notes. */
export interface CaseRecordsInclude {
  files: boolean;
  internalNotes: boolean;
}

/** What a stored file download needs (the signed download route). */
export interface StoredFileRow {
  file_name: string;
  content_type: string;
  storage_key: string | null;
}

/** A staff member's published name object, by a key lookup (staff accounts are not an organization's rows). */
function staffName(column: string): string {
  return `select json_build_object('id', s.id, 'firstName', s.first_name, 'lastName', s.last_name)
    from staff_members s where s.id = ${column}`;
}

const CASE_COLUMNS = `c.id, c.organization_id, c.short_id, c.type, c.title, c.status, c.created_at, c.updated_at,
  c.assigned_at, c.in_progress_at, c.closed_at, c.closed_by, c.is_archived, c.is_escalated, c.archive_reason,
  c.archive_note, c.product_bundle_id,
  (select b.name from product_bundles b where b.organization_id = c.organization_id and b.id = c.product_bundle_id)
    as product_bundle_name, c.patient_id, p.email as patient_email,
  p.first_name as patient_first_name, p.last_name as patient_last_name, to_char(p.dob, 'YYYY-MM-DD') as patient_dob,
  p.gender as patient_gender, p.phone_number as patient_phone_number,
  (${staffName('c.assignee_staff_id')}) as assigned_to, (${staffName('c.assigned_by_staff_id')}) as assigned_by`;

const CASE_JOINS = `join patients p on p.organization_id = c.organization_id and p.id = c.patient_id`;

/**
 * The records of the case `c`, one JSON array per kind, each in its order: the case and everything it gathered
 * in one statement (one round trip), each array read by its (organization_id, case_id) index. `internalNotes`
 * and `files` are the placeholders of the statement's two boolean parameters.
 */
function caseRecords(internalNotes: string, files: string): string {
  return `
  (select coalesce(json_agg(json_build_object(
            'id', fr.id, 'created_at', fr.created_at, 'form_id', f.id, 'form_title', f.title,
            'form_description', f.description,
            'answers', (
              select coalesce(json_agg(json_build_object(
                       'id', a.id, 'question_id', a.question_id, 'position', q.position, 'question', q.question,
                       'question_type', a.question_type, 'phi', q.phi, 'required', q.required,
                       'options', q.options, 'hint', q.hint, 'placeholder', q.placeholder, 'value', a.value,
                       'encrypted_value', a.encrypted_value) order by q.position, a.id), '[]')
                from answers a join questions q on q.organization_id = a.organization_id and q.id = a.question_id
               where a.organization_id = fr.organization_id and a.form_response_id = fr.id))
          order by fr.created_at, fr.id), '[]')
     from form_responses fr
     -- One form per response, looked up by its key (a join would be free to read all the forms).
     cross join lateral (
       select id, title, description from forms where organization_id = fr.organization_id and id = fr.form_id limit 1
     ) f
    where fr.organization_id = c.organization_id and fr.case_id = c.id) as form_responses,
  (select coalesce(json_agg(json_build_object(
            'id', d.id, 'is_approved', d.is_approved, 'is_no_decision', d.is_no_decision,
            'decision_text', d.decision_text, 'category', d.category, 'visit_type', d.visit_type,
            'start_date', to_char(d.start_date, 'YYYY-MM-DD'), 'end_date', to_char(d.end_date, 'YYYY-MM-DD'),
            'med_info', d.med_info, 'added_by', d.added_by, 'created_at', d.created_at)
          order by d.created_at, d.id), '[]')
     from case_decisions d
    where d.organization_id = c.organization_id and d.case_id = c.id and d.deleted_at is null) as decisions,
  -- Staff internal notes (restricted staff comments) only when asked for.
  (select coalesce(json_agg(json_build_object(
            'id', m.id, 'encrypted_text', m.encrypted_text, 'is_restricted', m.is_restricted, 'author', m.author,
            'created_at', m.created_at) order by m.created_at, m.id), '[]')
     from case_comments m
    where m.organization_id = c.organization_id and m.case_id = c.id and m.deleted_at is null
      and (${internalNotes}::boolean or m.staff_id is null or not m.is_restricted)) as comments,
  -- The intake files of the case's form responses, then its attachments, in creation order.
  (select coalesce(json_agg(x order by x.created_at, x.id), '[]')
     from (
       select f.id, null::uuid as comment_id, f.name as file_name, f.content_type, f.size_bytes, f.storage_key,
              f.url, q.phi as is_phi, false as is_restricted, false as is_deleted, null::jsonb as uploaded_by,
              f.created_at
         from form_responses fr
         join files f on f.organization_id = fr.organization_id and f.form_response_id = fr.id
         join answers a on a.organization_id = f.organization_id and a.id = f.answer_id
         join questions q on q.organization_id = a.organization_id and q.id = a.question_id
        where ${files}::boolean and fr.organization_id = c.organization_id and fr.case_id = c.id
       union all
       select t.id, t.comment_id, t.file_name, t.content_type, t.size_bytes, t.storage_key, null, t.is_phi,
              t.is_restricted, t.is_deleted, t.uploaded_by, t.created_at
         from case_attachments t
        where ${files}::boolean and t.organization_id = c.organization_id and t.case_id = c.id
     ) x) as files,
  (select coalesce(json_agg(json_build_object(
            'id', y.id, 'amount_cents', y.amount_cents, 'currency', y.currency, 'status', y.status,
            'description', y.description, 'created_at', y.created_at) order by y.created_at, y.id), '[]')
     from case_payments y where y.organization_id = c.organization_id and y.case_id = c.id) as payments`;
}

/** Cases by id with all their records: $1 organization, $2 case ids, $3 internal notes, $4 files. */
const FIND_CASES = prepared(`select ${CASE_COLUMNS}, ${caseRecords('$3', '$4')}
  from cases c ${CASE_JOINS}
 where c.organization_id = $1 and c.id = any($2::uuid[])`);

/**
 * The case detail in one statement (one round trip): the key check of a key taken from memory, the case `target`
 * finds (a CTE of one `id`) with all its records, and the read's audit event, written only when the key is active
 * and the case found. $1 organization, $2 the key to confirm (null: read for this request), $3 internal notes,
 * $4 files, $5-$15 the audit event (null: none); the target's own parameters from $16.
 */
function caseDetailStatement(target: string): string {
  return prepared(`with key_check as (
    select ${activeKeyCondition('$2::uuid', '$1::uuid')} as active
  ), target as (${target}
  ), read_event as (
    ${insertEventSql('target', 5)}
  )
  select ${CASE_COLUMNS}, ${caseRecords('$3', '$4')}
    from target join cases c on c.organization_id = $1 and c.id = target.id ${CASE_JOINS}`);
}

/** $16 the case id; $17 the customer's email when the case must be theirs (else null). */
const READ_CASE_BY_ID = caseDetailStatement(`
    select c.id from cases c ${CASE_JOINS}
     where c.organization_id = $1 and c.id = $16::uuid and ($17::text is null or p.email = $17::text)
       and (select active from key_check)`);

/** $16 the customer's email: their latest case. */
const READ_LATEST_CASE_OF_EMAIL = caseDetailStatement(`
    select c.id from patients p join cases c on c.organization_id = p.organization_id and c.patient_id = p.id
     where p.organization_id = $1 and p.email = $16::text and (select active from key_check)
     order by c.created_at desc, c.id desc limit 1`);

/** The case a case detail shows: by id (with `email`, only if it is that customer's), or a customer's latest. */
export type CaseDetailTarget = { caseId: string; email?: string } | { email: string };

/** What the statement of a caller's case detail checks and records besides the read. */
export interface CaseReadCheck {
  /** When set, the case is read only if this API key is still active (Scope.keyToCheckInWrite). */
  confirmApiKeyId?: string;
  /** The read's audit event (audit.ts readEventOf), written with the read, naming the case found. */
  event?: Omit<AuditEvent, 'resourceId'>;
}

/** The case list's largest page (recordsPerPage). */
export const MAX_RECORDS_PER_PAGE = 100;

/** The most rows a list page reads: the largest page, and one more that tells whether a next page exists. */
const LIST_PAGE_ROWS_CAP = MAX_RECORDS_PER_PAGE + 1;

/**
 * One page of the case list with all its records: cases created in [$2, $3) after the case $4 (its
 * (created_at, id) position), of the statuses $5, $6 rows at most; $7 internal notes, $8 files. The page is
 * cut first (one range of the (organization_id, created_at, id) index), then its records are read.
 *
 * The constant limit inside `limit $6` bounds the planner's estimate of the page's rows. With only the
 * parameter, the statement's generic plan assumes a tenth of the range's cases, so in a large organization
 * PostgreSQL judges it too dear and plans the page again at every request (docs/performance.md).
 */
const LIST_PAGE = prepared(`with anchor as (
    select created_at, id from cases where organization_id = $1 and id = $4::uuid
  )
  select ${CASE_COLUMNS}, ${caseRecords('$7', '$8')}
    from (
      select * from (
        select * from cases
         where organization_id = $1 and created_at >= $2 and created_at < $3
           and ($4::uuid is null or (created_at, id) > (select created_at, id from anchor))
           and ($5::text[] is null or status = any($5::text[]))
         order by created_at, id
         limit ${LIST_PAGE_ROWS_CAP}
      ) capped
      order by created_at, id
      limit $6
    ) c ${CASE_JOINS}
   order by c.created_at, c.id`);

/** Every case status, in the order the lifecycle goes. */
export const CASE_STATUSES = [
  'OPEN',
  'ASSIGNED',
  'IN_PROGRESS',
  'APPROVED',
  'REJECTED',
  'NO_DECISION',
  'ABANDONED',
] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];

/** The case list's filter and position. */
export interface CaseListQuery {
  startTime: Date;
  endTime: Date;
  statuses: CaseStatus[] | undefined;
  /** The id of the last case of the previous page. */
  after: string | undefined;
  limit: number;
}

/**
 * The reads of cases and everything they gathered, for one organization (given once, at construction):
 * every statement filters on it, so another organization's case reads as one that does not exist.
 */
export class CaseReadRepository {
  private readonly organizationId: string;

  constructor(
    private readonly db: Queryable,
    tenant: Tenant,
  ) {
    this.organizationId = tenant.organizationId;
  }

  /** The cases of these ids with their records (another organization's id finds nothing). */
  async findCases(caseIds: string[], include: CaseRecordsInclude): Promise<CaseRecord[]> {
    if (caseIds.length === 0) return [];
    const { rows } = await this.db.query<CaseRecord>(FIND_CASES, [
      this.organizationId,
      caseIds,
      include.internalNotes,
      include.files,
    ]);
    return rows;
  }

  /**
   * The case a case detail shows, with its records, in one statement that also checks the key and writes the
   * read's audit event (`check`); null when there is no such case or the key is no longer active.
   */
  async readCase(
    target: CaseDetailTarget,
    include: CaseRecordsInclude,
    check: CaseReadCheck,
  ): Promise<CaseRecord | null> {
    const email = target.email === undefined ? null : target.email.trim().toLowerCase();
    const common = [
      this.organizationId,
      check.confirmApiKeyId ?? null,
      include.internalNotes,
      include.files,
      ...eventParams(check.event ?? null),
    ];
    const { rows } =
      'caseId' in target
        ? await this.db.query<CaseRecord>(READ_CASE_BY_ID, [...common, target.caseId, email])
        : await this.db.query<CaseRecord>(READ_LATEST_CASE_OF_EMAIL, [...common, email]);
    return rows[0] ?? null;
  }

  /** The latest case of the patient with this email (stored trimmed and lower-cased). */
  async latestCaseIdByEmail(email: string): Promise<string | null> {
    const { rows } = await this.db.query<{ id: string }>(
      `select c.id from patients p
         join cases c on c.organization_id = p.organization_id and c.patient_id = p.id
        where p.organization_id = $1 and p.email = $2
        order by c.created_at desc, c.id desc limit 1`,
      [this.organizationId, email.trim().toLowerCase()],
    );
    return rows[0]?.id ?? null;
  }

  /**
   * One page of the case list in (created_at, id) order, with the cases' records (LIST_PAGE). A page after a
   * case that is not this organization's is empty (see afterCaseExists).
   */
  async listPage(query: CaseListQuery, include: CaseRecordsInclude): Promise<CaseRecord[]> {
    if (query.limit > LIST_PAGE_ROWS_CAP) throw new Error(`a list page reads at most ${LIST_PAGE_ROWS_CAP} rows`);
    const { rows } = await this.db.query<CaseRecord>(LIST_PAGE, [
      this.organizationId,
      query.startTime,
      query.endTime,
      query.after ?? null,
      query.statuses ?? null,
      query.limit,
      include.internalNotes,
      include.files,
    ]);
    return rows;
  }

  async afterCaseExists(caseId: string): Promise<boolean> {
    const { rows } = await this.db.query('select 1 from cases where organization_id = $1 and id = $2', [
      this.organizationId,
      caseId,
    ]);
    return rows.length > 0;
  }

  /** A stored file of this organization's cases (intake file or case attachment) by id, for its download. */
  async storedFile(fileId: string): Promise<StoredFileRow | null> {
    const { rows } = await this.db.query<StoredFileRow>(
      `select name as file_name, content_type, storage_key from files where organization_id = $1 and id = $2
       union all
       select file_name, content_type, storage_key from case_attachments
        where organization_id = $1 and id = $2 and not is_deleted`,
      [this.organizationId, fileId],
    );
    return rows[0] ?? null;
  }
}
