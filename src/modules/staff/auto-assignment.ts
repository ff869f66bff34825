import type { Database, Queryable } from '../../db/database.ts';
import type { Tenant } from '../../http/gate.ts';
import { recordCaseEvent, type CaseEventActor } from '../cases/lifecycle/events.ts';

/** The server assigns the case: no staff member made this assignment (the partner's `assignedBy` is null). */
const SYSTEM: CaseEventActor = { kind: 'system', id: null };

/** An organization's auto-assignment settings (no row: off, with the default cap). */
export interface AutoAssignmentSettings {
  enabled: boolean;
  maxOpenCases: number;
}

export const DEFAULT_MAX_OPEN_CASES = 10;

/** The settings of one organization, built with its Tenant (the admin API and the CLI name it). */
export class AutoAssignmentSettingsRepository {
  private readonly organizationId: string;

  constructor(
    private readonly db: Queryable,
    tenant: Tenant,
  ) {
    this.organizationId = tenant.organizationId;
  }

  async get(): Promise<AutoAssignmentSettings> {
    const { rows } = await this.db.query<{ enabled: boolean; max_open_cases: number }>(
      'select enabled, max_open_cases from organization_auto_assignment where organization_id = $1',
      [this.organizationId],
    );
    return { enabled: rows[0]?.enabled ?? false, maxOpenCases: rows[0]?.max_open_cases ?? DEFAULT_MAX_OPEN_CASES };
  }

  /** One statement: concurrent changes of different fields both apply. */
  async update(changes: Partial<AutoAssignmentSettings>): Promise<AutoAssignmentSettings> {
    const { rows } = await this.db.query<{ enabled: boolean; max_open_cases: number }>(
      `insert into organization_auto_assignment as s (organization_id, enabled, max_open_cases)
       values ($1, coalesce($2::boolean, false), coalesce($3::integer, ${DEFAULT_MAX_OPEN_CASES}))
       on conflict (organization_id) do update
         set enabled = coalesce($2::boolean, s.enabled), max_open_cases = coalesce($3::integer, s.max_open_cases),
             updated_at = now()
       returning enabled, max_open_cases`,
      [this.organizationId, changes.enabled ?? null, changes.maxOpenCases ?? null],
    );
    return { enabled: rows[0]!.enabled, maxOpenCases: rows[0]!.max_open_cases };
  }
}

/**
 * Auto-assignment: a case that has just become OPEN (a new case, or an ABANDONED one set to OPEN) goes to the next
 * provider in the organization's rotation: a PROVIDER who works for the organization, is not disabled, is licensed
 * in the patient's state and holds fewer open cases of the organization than the cap; among them the one whose
 * last turn is oldest (never: first; then by id). Runs after the change that opened the case has committed, in a
 * transaction of its own that locks the organization's settings row first, so auto-assignments of one
 * organization take their turns one at a time across every server process: the cap counts the assignments before
 * it and the rotation moves by one each time. The case row is then locked and checked: a case assigned (by staff),
 * archived or no longer OPEN meanwhile is left as it is (a manual assignment always wins). The assignment writes
 * ADD_CASE_ASSIGNEE and CHANGE_CASE_STATUS in its own transaction, and holds the patient row as a staff assignment
 * does (for key share: the partner's UPDATE_PROFILE identity lock then sees it).
 */
export class AutoAssigner {
  constructor(private readonly db: Database) {}

  /** The provider the case went to, or null (off, nobody eligible, or the case no longer waiting). */
  async caseOpened(tenant: Tenant, caseId: string): Promise<string | null> {
    const organizationId = tenant.organizationId;
    // Off (no row, or disabled): one indexed read, outside any transaction.
    const { rows: on } = await this.db.query(
      'select 1 from organization_auto_assignment where organization_id = $1 and enabled',
      [organizationId],
    );
    if (on.length === 0) return null;
    return this.db.transaction(async (tx) => {
      const { rows: settings } = await tx.query<{ max_open_cases: number; turns: number }>(
        `select max_open_cases, turns from organization_auto_assignment
          where organization_id = $1 and enabled for update`,
        [organizationId],
      );
      const cap = settings[0];
      if (!cap) return null;
      const { rows: cases } = await tx.query<{
        status: string;
        is_archived: boolean;
        is_escalated: boolean;
        assignee_staff_id: string | null;
        patient_state: string | null;
      }>(
        `select c.status, c.is_archived, c.is_escalated, c.assignee_staff_id, upper(p.shipping_address->>'state') as patient_state
           from cases c join patients p on p.organization_id = c.organization_id and p.id = c.patient_id
          where c.organization_id = $1 and c.id = $2
          for update of c for key share of p`,
        [organizationId, caseId],
      );
      const found = cases[0];
      if (!found || found.status !== 'OPEN' || found.is_archived || found.assignee_staff_id !== null) return null;
      if (!found.patient_state) return null;
      const { rows: next } = await tx.query<{ id: string }>(
        `select s.id
           from staff_members s
           left join auto_assignment_turns t on t.organization_id = $1 and t.staff_id = s.id
          where s.role = 'PROVIDER' and s.disabled_at is null and $2::text = any(s.licensed_states)
            and (s.all_organizations
                 or exists (select 1 from staff_organizations so where so.staff_id = s.id and so.organization_id = $1))
            and (select count(*) from cases c
                  where c.organization_id = $1 and c.assignee_staff_id = s.id
                    and c.status in ('ASSIGNED', 'IN_PROGRESS') and not c.is_archived) < $3
          order by t.last_turn nulls first, s.id
          limit 1`,
        [organizationId, found.patient_state, cap.max_open_cases],
      );
      const assigneeId = next[0]?.id;
      if (!assigneeId) return null;
      const turn = cap.turns + 1;
      await tx.query('update organization_auto_assignment set turns = $2 where organization_id = $1', [
        organizationId,
        turn,
      ]);
      await tx.query(
        `insert into auto_assignment_turns (organization_id, staff_id, last_turn) values ($1, $2, $3)
         on conflict (organization_id, staff_id) do update set last_turn = excluded.last_turn`,
        [organizationId, assigneeId, turn],
      );
      await tx.query(
        `update cases set status = 'ASSIGNED', assignee_staff_id = $3, assigned_at = now(), assigned_by_staff_id = null,
                version = version + 1, updated_at = now()
          where organization_id = $1 and id = $2`,
        [organizationId, caseId, assigneeId],
      );
      const before = { status: 'OPEN', assigneeId: null, isArchived: false, isEscalated: found.is_escalated };
      const after = { ...before, status: 'ASSIGNED', assigneeId, autoAssigned: true };
      const event = { organizationId, caseId, actor: SYSTEM, before, after };
      await recordCaseEvent(tx, { ...event, type: 'case.assignee_added', subject: { assigneeId } });
      await recordCaseEvent(tx, { ...event, type: 'case.status_changed' });
      return assigneeId;
    });
  }
}
