import type { Queryable } from '../../../db/database.ts';
import type { Tenant } from '../../../http/gate.ts';

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

export interface FormResponseRow {
  id: string;
  case_id: string;
  created_at: Date;
  form_id: string;
  form_title: string;
  form_description: string | null;
}

export interface AnswerRow {
  id: string;
  form_response_id: string;
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

export interface DecisionRow {
  id: string;
  case_id: string;
  is_approved: boolean;
  is_no_decision: boolean;
  decision_text: string | null;
  category: string | null;
  visit_type: string | null;
  start_date: string | null;
  end_date: string | null;
  med_info: unknown[];
  added_by: Record<string, unknown> | null;
  created_at: Date;
}

export interface CommentRow {
  id: string;
  case_id: string;
  encrypted_text: string;
  is_restricted: boolean;
  author: Record<string, unknown> | null;
  created_at: Date;
}

/** A file of a case: an intake file (answer) or a case attachment (comment_id set when on a comment). */
export interface CaseFileRow {
  id: string;
  case_id: string;
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
  created_at: Date;
}

export interface PaymentRow {
  id: string;
  case_id: string;
  amount_cents: number;
  currency: string;
  status: string;
  description: string | null;
  created_at: Date;
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

  async findCases(caseIds: string[]): Promise<CaseRow[]> {
    if (caseIds.length === 0) return [];
    const { rows } = await this.db.query<CaseRow>(
      `select ${CASE_COLUMNS} from cases c ${CASE_JOINS}
        where c.organization_id = $1 and c.id = any($2::uuid[])`,
      [this.organizationId, caseIds],
    );
    return rows;
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
   * One page of the case list in (created_at, id) order: cases created in [startTime, endTime), after the
   * position of the case `after`, `limit` rows at most. One range of the (organization_id, created_at, id)
   * index. A page after a case that is not this organization's is empty (see afterCaseExists).
   */
  async listPage(query: CaseListQuery): Promise<CaseRow[]> {
    const { rows } = await this.db.query<CaseRow>(
      `with anchor as (
         select created_at, id from cases where organization_id = $1 and id = $4::uuid
       )
       select ${CASE_COLUMNS} from cases c ${CASE_JOINS}
        where c.organization_id = $1 and c.created_at >= $2 and c.created_at < $3
          and ($4::uuid is null or (c.created_at, c.id) > (select created_at, id from anchor))
          and ($5::text[] is null or c.status = any($5::text[]))
        order by c.created_at, c.id
        limit $6`,
      [this.organizationId, query.startTime, query.endTime, query.after ?? null, query.statuses ?? null, query.limit],
    );
    return rows;
  }

  async afterCaseExists(caseId: string): Promise<boolean> {
    const { rows } = await this.db.query('select 1 from cases where organization_id = $1 and id = $2', [
      this.organizationId,
      caseId,
    ]);
    return rows.length > 0;
  }

  async formResponses(caseIds: string[]): Promise<FormResponseRow[]> {
    const { rows } = await this.db.query<FormResponseRow>(
      `select fr.id, fr.case_id, fr.created_at, f.id as form_id, f.title as form_title,
              f.description as form_description
         from form_responses fr
         -- One form per response, looked up by its key (a join would be free to read all the forms).
         cross join lateral (
           select id, title, description from forms
            where organization_id = fr.organization_id and id = fr.form_id limit 1
         ) f
        where fr.organization_id = $1 and fr.case_id = any($2::uuid[])
        order by fr.created_at, fr.id`,
      [this.organizationId, caseIds],
    );
    return rows;
  }

  async answers(formResponseIds: string[]): Promise<AnswerRow[]> {
    if (formResponseIds.length === 0) return [];
    const { rows } = await this.db.query<AnswerRow>(
      `select a.id, a.form_response_id, a.question_id, q.position, q.question, a.question_type, q.phi, q.required,
              q.options, q.hint, q.placeholder, a.value, a.encrypted_value
         from answers a join questions q on q.organization_id = a.organization_id and q.id = a.question_id
        where a.organization_id = $1 and a.form_response_id = any($2::uuid[])
        order by q.position, a.id`,
      [this.organizationId, formResponseIds],
    );
    return rows;
  }

  async decisions(caseIds: string[]): Promise<DecisionRow[]> {
    const { rows } = await this.db.query<DecisionRow>(
      `select id, case_id, is_approved, is_no_decision, decision_text, category, visit_type,
              to_char(start_date, 'YYYY-MM-DD') as start_date, to_char(end_date, 'YYYY-MM-DD') as end_date,
              med_info, added_by, created_at
         from case_decisions where organization_id = $1 and case_id = any($2::uuid[]) and deleted_at is null
        order by created_at, id`,
      [this.organizationId, caseIds],
    );
    return rows;
  }

  /** The comments not deleted; staff internal notes (restricted staff comments) only for `internalNotes`. */
  async comments(caseIds: string[], internalNotes = false): Promise<CommentRow[]> {
    const { rows } = await this.db.query<CommentRow>(
      `select id, case_id, encrypted_text, is_restricted, author, created_at
         from case_comments
        where organization_id = $1 and case_id = any($2::uuid[]) and deleted_at is null
          and ($3::boolean or staff_id is null or not is_restricted)
        order by created_at, id`,
      [this.organizationId, caseIds, internalNotes],
    );
    return rows;
  }

  /** The intake files of the cases' form responses, then their case attachments, each in creation order. */
  async files(caseIds: string[]): Promise<CaseFileRow[]> {
    const { rows } = await this.db.query<CaseFileRow>(
      `select f.id, fr.case_id, null::uuid as comment_id, f.name as file_name, f.content_type, f.size_bytes,
              f.storage_key, f.url, q.phi as is_phi, false as is_restricted, false as is_deleted,
              null::jsonb as uploaded_by, f.created_at
         from form_responses fr
         join files f on f.organization_id = fr.organization_id and f.form_response_id = fr.id
         join answers a on a.organization_id = f.organization_id and a.id = f.answer_id
         join questions q on q.organization_id = a.organization_id and q.id = a.question_id
        where fr.organization_id = $1 and fr.case_id = any($2::uuid[])
       union all
       select id, case_id, comment_id, file_name, content_type, size_bytes, storage_key, null, is_phi, is_restricted,
              is_deleted, uploaded_by, created_at
         from case_attachments where organization_id = $1 and case_id = any($2::uuid[])
        order by created_at, id`,
      [this.organizationId, caseIds],
    );
    return rows;
  }

  async payments(caseIds: string[]): Promise<PaymentRow[]> {
    const { rows } = await this.db.query<PaymentRow>(
      `select id, case_id, amount_cents, currency, status, description, created_at
         from case_payments where organization_id = $1 and case_id = any($2::uuid[])
        order by created_at, id`,
      [this.organizationId, caseIds],
    );
    return rows;
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
