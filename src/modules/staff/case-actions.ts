import { randomUUID } from 'node:crypto';
import type { PhiCipher } from '../../crypto/phi.ts';
import type { Database, Queryable } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import type { StaffScope } from '../../http/gate.ts';
import { isUuid } from '../../uuid.ts';
import { checkText, insertComment } from '../cases/lifecycle/case-actions.ts';
import { recordCaseEvent, type CaseEventSubject, type CaseEventType } from '../cases/lifecycle/events.ts';
import type { CaseStatus } from '../cases/lifecycle/read-repository.ts';
import { StaffCaseQueue, type CaseState } from './case-queue.ts';
import type { StaffRepository } from './repository.ts';

export const CASE_NOT_FOUND = 'Case not found';
export const COMMENT_NOT_FOUND = 'Comment not found';
export const DECISION_NOT_FOUND = 'Decision not found';

/** A case's state as an action found or left it. */
export interface FoundCase {
  caseId: string;
  status: string;
  isArchived: boolean;
  isEscalated: boolean;
  assigneeId: string | null;
  version: number;
}

/** The outcome of an action, with the case's organization (for the request's audit event). */
export type ActionResult = { organizationId: string } & (
  { ok: true; case: FoundCase; created?: Created } | { ok: false; message: string; found: FoundCase }
);

/** What an action created: the new comment's or decision's id. */
export interface Created {
  commentId?: string;
  decisionId?: string;
}

/** A staff comment: `isRestricted` makes it an internal note, never shown or sent to the partner. */
export interface CommentInput {
  text: string;
  isRestricted: boolean;
}

export interface MedInfo {
  medicine: string;
  dosage?: string | null;
  refillCount?: number | null;
  pharmacyInstructions?: string | null;
  dosingFrequency?: string | null;
}

export interface DecisionInput {
  isApproved: boolean;
  isNoDecision: boolean;
  decisionText?: string | null;
  visitType?: string | null;
  startDate?: string | null;
  endDate?: string | null;
  medInfo: MedInfo[];
}

/** The statuses a case is worked in: an action that assigns or decides finds one of these. */
const WORKED: readonly CaseStatus[] = ['OPEN', 'ASSIGNED', 'IN_PROGRESS'];
/** The statuses a decision leaves a case in. */
const DECIDED: readonly CaseStatus[] = ['APPROVED', 'REJECTED', 'NO_DECISION'];

const found = (state: CaseState): FoundCase => ({
  caseId: state.id,
  status: state.status,
  isArchived: state.is_archived,
  isEscalated: state.is_escalated,
  assigneeId: state.assignee_staff_id,
  version: state.version,
});

/** What a case event records of the case: identifiers and states only. */
const eventState = (state: {
  status: string;
  assignee_staff_id: string | null;
  is_archived: boolean;
  is_escalated: boolean;
}) => ({
  status: state.status,
  assigneeId: state.assignee_staff_id,
  isArchived: state.is_archived,
  isEscalated: state.is_escalated,
});

interface Change {
  status: CaseStatus;
  assignee: string | null;
  /** Set assigned_at / in_progress_at to now. */
  assignedNow?: boolean;
  inProgressNow?: boolean;
  /** Archive (with its reason and note) or reopen; absent: the archive flag stays. */
  archive?: { reason: 'COMPLETE' | 'INELIGIBLE'; note: string | null } | 'reopen';
  /** Escalate or de-escalate; absent: the flag stays. */
  escalated?: boolean;
}

/** What an action plans once it has checked the state it found. */
interface Plan {
  change: Change;
  events: CaseEventType[];
  subject?: CaseEventSubject;
  /** False: the events are recorded but sent to no webhook (an internal note's). */
  notify?: boolean;
  created?: Created;
}

/** The case as it stands, for an action that changes only what it records (a comment, a deletion). */
const unchanged = (state: CaseState): Change => ({ status: state.status, assignee: state.assignee_staff_id });

/**
 * A staff member's actions on a case. Each runs in one transaction: the case row is read under a lock, the
 * action is checked against the state found, the row changes with its version raised, and every change writes
 * its case event (and so its webhooks) through recordCaseEvent in the same transaction. Two members acting at
 * once: the second finds the first's result, and is answered 409 with it when its action no longer applies.
 */
export class StaffCaseActions {
  constructor(
    private readonly db: Database,
    private readonly staffAccounts: StaffRepository,
    private readonly cipher: PhiCipher,
  ) {}

  assign(staff: StaffScope, caseId: string, assigneeId: string, expectedVersion?: number): Promise<ActionResult> {
    return this.act(staff, caseId, expectedVersion, async (tx, state, conflict) => {
      if (staff.role === 'PROVIDER' && assigneeId !== staff.staffId) {
        throw new ApiError(403, 'A provider assigns cases to themselves only');
      }
      const assignee = isUuid(assigneeId) ? await this.staffAccounts.byId(assigneeId, tx) : null;
      const worksThere =
        assignee && (assignee.all_organizations || assignee.organization_ids.includes(state.organization_id));
      if (!assignee || assignee.disabled_at || !worksThere) {
        throw new ApiError(400, 'assigneeId: no active staff member of this organization');
      }
      if (state.is_archived) return conflict('The case is archived');
      if (!WORKED.includes(state.status)) return conflict(`The case is ${state.status}`);
      if (state.assignee_staff_id === assigneeId) return null;
      const events: CaseEventType[] = state.assignee_staff_id
        ? ['case.assignee_removed', 'case.assignee_added']
        : ['case.assignee_added'];
      return { change: { status: 'ASSIGNED', assignee: assigneeId, assignedNow: true }, events };
    });
  }

  unassign(staff: StaffScope, caseId: string, expectedVersion?: number): Promise<ActionResult> {
    return this.act(staff, caseId, expectedVersion, async (_tx, state, conflict) => {
      if (state.assignee_staff_id === null) return conflict('The case has no assignee');
      if (staff.role === 'PROVIDER' && state.assignee_staff_id !== staff.staffId) {
        return conflict('The case is assigned to another staff member');
      }
      if (state.is_archived) return conflict('The case is archived');
      if (!WORKED.includes(state.status)) return conflict(`The case is ${state.status}`);
      return { change: { status: 'OPEN', assignee: null }, events: ['case.assignee_removed'] };
    });
  }

  startReview(staff: StaffScope, caseId: string, expectedVersion?: number): Promise<ActionResult> {
    return this.act(staff, caseId, expectedVersion, async (_tx, state, conflict) => {
      if (state.is_archived) return conflict('The case is archived');
      if (state.status !== 'ASSIGNED') return conflict(`The case is ${state.status}, not ASSIGNED`);
      if (staff.role === 'PROVIDER' && state.assignee_staff_id !== staff.staffId) {
        return conflict('The case is assigned to another staff member');
      }
      return {
        change: { status: 'IN_PROGRESS', assignee: state.assignee_staff_id, inProgressNow: true },
        events: [],
      };
    });
  }

  /** Archives the case (COMPLETE or INELIGIBLE, with a note); the status stays. A PROVIDER archives their cases. */
  archive(
    staff: StaffScope,
    caseId: string,
    archive: { reason: 'COMPLETE' | 'INELIGIBLE'; note: string | null },
    expectedVersion?: number,
  ): Promise<ActionResult> {
    return this.act(staff, caseId, expectedVersion, async (_tx, state, conflict) => {
      if (state.is_archived) return conflict('The case is archived');
      if (staff.role === 'PROVIDER' && state.assignee_staff_id !== staff.staffId) {
        return conflict('The case is not assigned to you');
      }
      return {
        change: { status: state.status, assignee: state.assignee_staff_id, archive },
        events: ['case.archived'],
      };
    });
  }

  /** Reopens an archived case; its status stays. */
  reopen(staff: StaffScope, caseId: string, expectedVersion?: number): Promise<ActionResult> {
    return this.act(staff, caseId, expectedVersion, async (_tx, state, conflict) => {
      if (!state.is_archived) return conflict('The case is not archived');
      if (staff.role === 'PROVIDER' && state.assignee_staff_id !== staff.staffId) {
        return conflict('The case is not assigned to you');
      }
      return {
        change: { status: state.status, assignee: state.assignee_staff_id, archive: 'reopen' },
        events: ['case.reopened'],
      };
    });
  }

  /**
   * A decision: only by the PROVIDER the case is assigned to, licensed in the patient's state, on a case being
   * worked. Approved: APPROVED; no decision: NO_DECISION; otherwise REJECTED.
   */
  decide(staff: StaffScope, caseId: string, decision: DecisionInput, expectedVersion?: number): Promise<ActionResult> {
    if (decision.isApproved && decision.isNoDecision) {
      return Promise.reject(new ApiError(400, 'isApproved and isNoDecision cannot both be true'));
    }
    return this.act(staff, caseId, expectedVersion, async (tx, state, conflict) => {
      if (state.is_archived) return conflict('The case is archived');
      if (state.status !== 'ASSIGNED' && state.status !== 'IN_PROGRESS') {
        return conflict(`The case is ${state.status}`);
      }
      if (state.assignee_staff_id !== staff.staffId) return conflict('The case is not assigned to you');
      if (!state.patient_state || !staff.licensedStates.includes(state.patient_state)) {
        throw new ApiError(403, "You are not licensed in the patient's state");
      }
      const provider = (await this.staffAccounts.byId(staff.staffId, tx))!;
      const decisionId = randomUUID();
      await tx.query(
        `insert into case_decisions (id, organization_id, case_id, is_approved, is_no_decision, decision_text,
                                     visit_type, start_date, end_date, med_info, added_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8::date, $9::date, $10::jsonb, $11::jsonb)`,
        [
          decisionId,
          state.organization_id,
          state.id,
          decision.isApproved,
          decision.isNoDecision,
          decision.decisionText ?? null,
          decision.visitType ?? null,
          decision.startDate ?? null,
          decision.endDate ?? null,
          JSON.stringify(
            decision.medInfo.map((med) => ({
              id: randomUUID(),
              medicine: med.medicine,
              dosage: med.dosage ?? null,
              refillCount: med.refillCount ?? null,
              pharmacyInstructions: med.pharmacyInstructions ?? null,
              dosingFrequency: med.dosingFrequency ?? null,
            })),
          ),
          // The provider as the published decision shows them; what the account does not hold is null.
          JSON.stringify({
            id: provider.id,
            firstName: provider.first_name,
            lastName: provider.last_name,
            title: provider.title,
            email: provider.email,
            phoneNumber: null,
            npi: provider.npi,
            dea: provider.dea,
            address: null,
            city: null,
            state: null,
            postalCode: null,
          }),
        ],
      );
      const status: CaseStatus = decision.isApproved ? 'APPROVED' : decision.isNoDecision ? 'NO_DECISION' : 'REJECTED';
      return {
        change: { status, assignee: state.assignee_staff_id },
        events: ['case.decision_added'],
        subject: { decisionId },
        created: { decisionId },
      };
    });
  }

  /**
   * A comment, or with `isRestricted` an internal note, stored like the partner's ADD_COMMUNICATION (text sealed
   * with the PHI key) with the member as its author. A comment is sent as ADD_CASE_COMMENT; an internal note's
   * event is recorded and sent to no webhook, and partner reads never show it. An archived case is 409.
   */
  addComment(
    staff: StaffScope,
    caseId: string,
    comment: CommentInput,
    expectedVersion?: number,
  ): Promise<ActionResult> {
    const text = checkText(comment.text, 'text', true)!;
    return this.act(staff, caseId, expectedVersion, async (tx, state, conflict) => {
      if (state.is_archived) return conflict('The case is archived');
      const member = (await this.staffAccounts.byId(staff.staffId, tx))!;
      const commentId = randomUUID();
      await insertComment(tx, {
        id: commentId,
        organizationId: state.organization_id,
        caseId: state.id,
        sealedText: await this.cipher.encryptText(text),
        isRestricted: comment.isRestricted,
        webhookNotify: !comment.isRestricted,
        // The published comment author: the member, with a provider's title and numbers.
        authorJson: JSON.stringify({
          id: member.id,
          firstName: member.first_name,
          lastName: member.last_name,
          email: member.email,
          role: member.role,
          title: member.title,
          npi: member.npi,
          dea: member.dea,
        }),
        staffId: staff.staffId,
      });
      return {
        change: unchanged(state),
        events: ['case.comment_added'],
        subject: { commentId },
        notify: !comment.isRestricted,
        created: { commentId },
      };
    });
  }

  /**
   * Deletes a staff comment or internal note (kept, marked deleted): its author, or an ADMIN. A partner's
   * comment is not the clinic's to delete (403). DELETE_CASE_COMMENT, sent only when the comment was.
   */
  deleteComment(staff: StaffScope, caseId: string, commentId: string, expectedVersion?: number): Promise<ActionResult> {
    return this.act(staff, caseId, expectedVersion, async (tx, state, conflict) => {
      const { rows } = isUuid(commentId)
        ? await tx.query<{ staff_id: string | null; is_restricted: boolean; deleted_at: Date | null }>(
            `select staff_id, is_restricted, deleted_at from case_comments
              where organization_id = $1 and case_id = $2 and id = $3 for update`,
            [state.organization_id, state.id, commentId],
          )
        : { rows: [] };
      const row = rows[0];
      if (!row || row.deleted_at) throw new ApiError(404, COMMENT_NOT_FOUND);
      if (row.staff_id === null) throw new ApiError(403, "A partner's comment is not the clinic's to delete");
      if (row.staff_id !== staff.staffId && staff.role !== 'ADMIN') {
        throw new ApiError(403, 'Only its author or an ADMIN deletes a comment');
      }
      if (state.is_archived) return conflict('The case is archived');
      await tx.query(
        'update case_comments set deleted_at = now(), deleted_by = $3 where organization_id = $1 and id = $2',
        [state.organization_id, commentId, staff.staffId],
      );
      return {
        change: unchanged(state),
        events: ['case.comment_deleted'],
        subject: { commentId },
        notify: !row.is_restricted,
      };
    });
  }

  /** Escalates (ESCALATE_CASE) or de-escalates (DEESCALATE_CASE) the case; a PROVIDER, the cases assigned to them. */
  setEscalated(staff: StaffScope, caseId: string, escalated: boolean, expectedVersion?: number): Promise<ActionResult> {
    return this.act(staff, caseId, expectedVersion, async (_tx, state, conflict) => {
      if (state.is_archived) return conflict('The case is archived');
      if (state.is_escalated === escalated) {
        return conflict(escalated ? 'The case is already escalated' : 'The case is not escalated');
      }
      if (staff.role === 'PROVIDER' && state.assignee_staff_id !== staff.staffId) {
        return conflict('The case is not assigned to you');
      }
      return {
        change: { ...unchanged(state), escalated },
        events: [escalated ? 'case.escalated' : 'case.deescalated'],
      };
    });
  }

  /**
   * Deletes the decision of a decided case (kept, marked deleted): only the PROVIDER the case is assigned to.
   * The case goes back to IN_PROGRESS with its assignee, to be decided again (DECISION_DELETED, then
   * CHANGE_CASE_STATUS). An archived case, or one not decided, is 409.
   */
  deleteDecision(
    staff: StaffScope,
    caseId: string,
    decisionId: string,
    expectedVersion?: number,
  ): Promise<ActionResult> {
    return this.act(staff, caseId, expectedVersion, async (tx, state, conflict) => {
      const { rows } = isUuid(decisionId)
        ? await tx.query<{ deleted_at: Date | null }>(
            `select deleted_at from case_decisions where organization_id = $1 and case_id = $2 and id = $3 for update`,
            [state.organization_id, state.id, decisionId],
          )
        : { rows: [] };
      if (!rows[0] || rows[0].deleted_at) throw new ApiError(404, DECISION_NOT_FOUND);
      if (state.is_archived) return conflict('The case is archived');
      if (state.assignee_staff_id !== staff.staffId) return conflict('The case is not assigned to you');
      if (!DECIDED.includes(state.status)) return conflict(`The case is ${state.status}`);
      await tx.query(
        'update case_decisions set deleted_at = now(), deleted_by = $3 where organization_id = $1 and id = $2',
        [state.organization_id, decisionId, staff.staffId],
      );
      return {
        change: { status: 'IN_PROGRESS', assignee: state.assignee_staff_id },
        events: ['case.decision_deleted'],
        subject: { decisionId },
      };
    });
  }

  private async act(
    staff: StaffScope,
    caseId: string,
    expectedVersion: number | undefined,
    plan: (
      tx: Queryable,
      state: CaseState,
      conflict: (message: string) => { conflict: string },
    ) => Promise<Plan | { conflict: string } | null>,
  ): Promise<ActionResult> {
    if (!isUuid(caseId)) throw new ApiError(404, CASE_NOT_FOUND);
    return this.db.transaction(async (tx) => {
      const state = await new StaffCaseQueue(tx, staff).state(caseId, tx);
      if (!state) throw new ApiError(404, CASE_NOT_FOUND);
      const base = { organizationId: state.organization_id };
      if (expectedVersion !== undefined && expectedVersion !== state.version) {
        return { ...base, ok: false, message: 'The case changed since it was read', found: found(state) };
      }
      const planned = await plan(tx, state, (message) => ({ conflict: message }));
      if (planned === null) return { ...base, ok: true, case: found(state) };
      if ('conflict' in planned) return { ...base, ok: false, message: planned.conflict, found: found(state) };
      const { change } = planned;
      const { rows } = await tx.query<CaseState>(
        `update cases set status = $3, assignee_staff_id = $4,
                assigned_at = case when $5::boolean then now() else assigned_at end,
                assigned_by_staff_id = case when $4::uuid is null then null when $5::boolean then $10::uuid
                                            else assigned_by_staff_id end,
                in_progress_at = case when $6::boolean then now() else in_progress_at end,
                is_archived = case $7::text when 'archive' then true when 'reopen' then false else is_archived end,
                archive_reason = case when $7::text = 'archive' then $8::text else archive_reason end,
                archive_note = case when $7::text = 'archive' then $9::text else archive_note end,
                closed_at = case when $7::text = 'archive' then now() else closed_at end,
                closed_by = case when $7::text = 'archive' then $10::text else closed_by end,
                is_escalated = coalesce($11::boolean, is_escalated),
                version = version + 1, updated_at = now()
          where organization_id = $1 and id = $2
          returning id, organization_id, status, is_archived, is_escalated, assignee_staff_id, version`,
        [
          state.organization_id,
          state.id,
          change.status,
          change.assignee,
          change.assignedNow === true,
          change.inProgressNow === true,
          change.archive === undefined ? null : change.archive === 'reopen' ? 'reopen' : 'archive',
          typeof change.archive === 'object' ? change.archive.reason : null,
          typeof change.archive === 'object' ? change.archive.note : null,
          staff.staffId,
          change.escalated ?? null,
        ],
      );
      const after = { ...rows[0]!, patient_state: state.patient_state };
      const actor = { kind: 'staff' as const, id: staff.staffId };
      const record = (type: CaseEventType, subject: CaseEventSubject, notify = true) =>
        recordCaseEvent(tx, {
          organizationId: state.organization_id,
          caseId: state.id,
          actor,
          type,
          before: eventState(state),
          after: eventState(after),
          subject,
          notify,
        });
      for (const type of planned.events) {
        if (type === 'case.assignee_removed') await record(type, { assigneeId: state.assignee_staff_id ?? undefined });
        else if (type === 'case.assignee_added') await record(type, { assigneeId: change.assignee ?? undefined });
        else await record(type, { ...planned.subject }, planned.notify ?? true);
      }
      if (after.status !== state.status) await record('case.status_changed', {});
      return { ...base, ok: true, case: found(after), ...(planned.created ? { created: planned.created } : {}) };
    });
  }
}
