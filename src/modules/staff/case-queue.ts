import type { Queryable } from '../../db/database.ts';
import type { StaffScope } from '../../http/gate.ts';
import { CASE_STATUSES, type CaseStatus } from '../cases/lifecycle/read-repository.ts';

/** One line of the staff queue: what a dashboard shows before the case is opened. */
export interface QueueRow {
  id: string;
  organization_id: string;
  short_id: string;
  status: CaseStatus;
  created_at: Date;
  is_archived: boolean;
  is_escalated: boolean;
  assignee_staff_id: string | null;
  version: number;
  patient_email: string;
  patient_first_name: string;
  patient_last_name: string;
  patient_state: string | null;
}

/** The state of a case that actions check and change (read under a row lock). */
export interface CaseState {
  id: string;
  organization_id: string;
  status: CaseStatus;
  is_archived: boolean;
  is_escalated: boolean;
  assignee_staff_id: string | null;
  version: number;
  patient_state: string | null;
}

/** The queue's counts: cases per status (statuses without cases left out), and which counts reached the cap. */
export interface QueueCounts {
  counts: Partial<Record<CaseStatus, number>>;
  /** Per counted status: true when its count is the cap, so the status has at least that many cases. */
  capped: Partial<Record<CaseStatus, boolean>>;
}

/** The default cap of the queue's counts (config.limits.queueCountCap). */
export const QUEUE_COUNT_CAP = 1000;

export interface QueueFilter {
  statuses?: CaseStatus[];
  organizationId?: string;
  assigneeId?: string;
  unassigned?: boolean;
  archived?: boolean;
  escalated?: boolean;
  createdFrom?: Date;
  createdTo?: Date;
  patientState?: string;
  search?: string;
}

const SHORT_ID = /^[A-Za-z]{3}-[A-Za-z]{5}$/;

/** The patient's state: the state of their shipping address (upper-cased). */
const PATIENT_STATE = `upper(p.shipping_address->>'state')`;

const QUEUE_FROM = `from cases c join patients p on p.organization_id = c.organization_id and p.id = c.patient_id`;

/**
 * The cases a staff member may see, across the organizations they work for: every statement starts from the
 * member's scope (the gate's StaffScope), so a case outside it reads as one that does not exist. A PROVIDER
 * sees the cases assigned to them and the unassigned cases of states they are licensed in; SUPPORT and ADMIN
 * see every case of their organizations.
 */
export class StaffCaseQueue {
  constructor(
    private readonly db: Queryable,
    private readonly staff: StaffScope,
    private readonly countCap = QUEUE_COUNT_CAP,
  ) {}

  /** Whether the filter's conditions (or the member's visibility) read the patient. */
  private readsPatient(filter: QueueFilter): boolean {
    return this.staff.role === 'PROVIDER' || filter.patientState !== undefined || Boolean(filter.search?.trim());
  }

  /** The visibility conditions, with their parameters appended to `params`. */
  private visible(params: unknown[], providerRule = true): string[] {
    const conditions: string[] = [];
    if (this.staff.organizationIds !== null) {
      params.push([...this.staff.organizationIds]);
      conditions.push(`c.organization_id = any($${params.length}::uuid[])`);
    }
    if (providerRule && this.staff.role === 'PROVIDER') {
      params.push(this.staff.staffId, [...this.staff.licensedStates]);
      conditions.push(
        `(c.assignee_staff_id = $${params.length - 1}::uuid or (c.assignee_staff_id is null and ` +
          `${PATIENT_STATE} = any($${params.length}::text[])))`,
      );
    }
    return conditions;
  }

  private filtered(filter: QueueFilter, params: unknown[], withStatus: boolean): string[] {
    const conditions = this.visible(params);
    const add = (condition: (placeholder: string) => string, value: unknown) => {
      params.push(value);
      conditions.push(condition(`$${params.length}`));
    };
    // One status is an equality: the (organization_id, status, is_archived, created_at, id) range in page order.
    if (withStatus && filter.statuses?.length === 1) add((p) => `c.status = ${p}`, filter.statuses[0]);
    else if (withStatus && filter.statuses) add((p) => `c.status = any(${p}::text[])`, filter.statuses);
    if (filter.organizationId !== undefined) add((p) => `c.organization_id = ${p}::uuid`, filter.organizationId);
    if (filter.assigneeId !== undefined) add((p) => `c.assignee_staff_id = ${p}::uuid`, filter.assigneeId);
    if (filter.unassigned === true) conditions.push('c.assignee_staff_id is null');
    if (filter.unassigned === false) conditions.push('c.assignee_staff_id is not null');
    if (filter.archived !== undefined) add((p) => `c.is_archived = ${p}::boolean`, filter.archived);
    if (filter.escalated !== undefined) add((p) => `c.is_escalated = ${p}::boolean`, filter.escalated);
    if (filter.createdFrom !== undefined) add((p) => `c.created_at >= ${p}`, filter.createdFrom);
    if (filter.createdTo !== undefined) add((p) => `c.created_at < ${p}`, filter.createdTo);
    if (filter.patientState !== undefined) add((p) => `${PATIENT_STATE} = ${p}`, filter.patientState.toUpperCase());
    const search = filter.search?.trim();
    if (search) {
      if (SHORT_ID.test(search)) add((p) => `c.short_id = ${p}`, search.toUpperCase());
      else if (search.includes('@')) add((p) => `p.email = ${p}`, search.toLowerCase());
      else {
        add(
          (p) => `(p.first_name || ' ' || p.last_name) ilike ${p} escape '\\'`,
          `%${search.replace(/[\\%_]/g, (character) => `\\${character}`)}%`,
        );
      }
    }
    return conditions;
  }

  /**
   * One page, oldest first, after the case `after` (which must be one this member sees). Each organization's
   * cases are one ordered index range read up to the page's size (`organization_id = any(...)` alone reads
   * every case of the organizations to sort them), and the organizations' pages merge into the page.
   */
  async page(filter: QueueFilter, after: string | undefined, limit: number): Promise<QueueRow[]> {
    const params: unknown[] = [];
    const conditions = ['c.organization_id = o.id', ...this.filtered(filter, params, true)];
    if (after !== undefined) {
      params.push(after);
      conditions.push(`(c.created_at, c.id) > (select created_at, id from cases where id = $${params.length}::uuid)`);
    }
    let organizations = 'organizations o';
    if (this.staff.organizationIds !== null) {
      params.push([...this.staff.organizationIds]);
      organizations = `unnest($${params.length}::uuid[]) as o(id)`;
    }
    params.push(limit);
    const { rows } = await this.db.query<QueueRow>(
      `select q.* from ${organizations} cross join lateral (
         select c.id, c.organization_id, c.short_id, c.status, c.created_at, c.is_archived, c.is_escalated,
                c.assignee_staff_id, c.version, p.email as patient_email, p.first_name as patient_first_name,
                p.last_name as patient_last_name, ${PATIENT_STATE} as patient_state
           ${QUEUE_FROM}
          where ${conditions.join(' and ')}
          order by c.created_at, c.id
          limit $${params.length}) q
        order by q.created_at, q.id
        limit $${params.length}`,
      params,
    );
    return rows;
  }

  /**
   * How many cases of each status match the filter (the status filter aside): the dashboard's counts. Each
   * status is counted over at most `countCap + 1` cases (one index range per status), so a request reads no
   * more at a million cases than at a thousand; a count that reaches the cap answers as the cap, flagged.
   */
  async counts(filter: QueueFilter): Promise<QueueCounts> {
    const params: unknown[] = [this.countCap + 1];
    const conditions = this.filtered(filter, params, false);
    const from = this.readsPatient(filter) ? QUEUE_FROM : 'from cases c';
    // Each status is a literal (a constant of the code): the planner sees how common it is and reads the
    // (organization_id, status, ...) index range rather than another index filtered on status.
    const counted = CASE_STATUSES.map(
      (status) =>
        `select '${status}' as status, (select count(*)::int from (select 1 ${from}
          where ${[`c.status = '${status}'`, ...conditions].join(' and ')} limit $1) counted) as count`,
    );
    const { rows } = await this.db.query<{ status: CaseStatus; count: number }>(counted.join(' union all '), params);
    const result: QueueCounts = { counts: {}, capped: {} };
    for (const row of rows) {
      if (row.count === 0) continue;
      const capped = row.count > this.countCap;
      result.counts[row.status] = capped ? this.countCap : row.count;
      result.capped[row.status] = capped;
    }
    return result;
  }

  /**
   * The case's state when this member may see it, else null. `forAction`: read under a row lock in `db` (the
   * action's transaction), within the member's organizations only: a PROVIDER acting on a case another took
   * meanwhile is told so (409) rather than told it does not exist. The case is locked for update and its patient
   * for key share, which an intake's upsert allows and the partner's UPDATE_PROFILE waits for: an identity change
   * never lands after an assignment it did not see (src/modules/patients/profile-service.ts).
   */
  async state(caseId: string, forAction?: Queryable): Promise<CaseState | null> {
    const params: unknown[] = [caseId];
    const conditions = ['c.id = $1::uuid', ...this.visible(params, !forAction)];
    const { rows } = await (forAction ?? this.db).query<CaseState>(
      `select c.id, c.organization_id, c.status, c.is_archived, c.is_escalated, c.assignee_staff_id, c.version,
              ${PATIENT_STATE} as patient_state
         ${QUEUE_FROM}
        where ${conditions.join(' and ')}
        ${forAction ? 'for update of c for key share of p' : ''}`,
      params,
    );
    return rows[0] ?? null;
  }
}
