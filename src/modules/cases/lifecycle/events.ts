import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../../db/database.ts';

/** Who changed a case: a partner's API key, an operator, or the server itself (a job). */
export interface CaseEventActor {
  kind: 'api_key' | 'operator' | 'system';
  /** The API key id for `api_key`; null for the server itself. */
  id: string | null;
}

/** Event types, `case.<what happened>`; the outbound webhooks map them to their published names. */
export const CASE_CREATED = 'case.created';

/** What a change records. `before` and `after` hold identifiers and states only, never PHI. */
export interface CaseEventInput {
  organizationId: string;
  caseId: string;
  /** The case product the change is about, once case products exist. */
  caseProductId?: string;
  actor: CaseEventActor;
  type: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

/**
 * The columns of a case event, in the order both writers give them: recordCaseEvent below, and the intake's
 * single statement (src/modules/cases/repository.ts), which writes `case.created` with the case itself.
 */
export const CASE_EVENT_COLUMNS =
  'id, organization_id, case_id, case_product_id, actor_kind, actor_id, type, before, after';

/** The fields of a new case that its `case.created` event records. */
export function caseCreatedState(fields: { status: string; shortId: string }): Record<string, unknown> {
  return { status: fields.status, shortId: fields.shortId, isArchived: false };
}

/**
 * Records one change to a case. `tx` is the transaction of the change itself: the event exists exactly
 * when the change does, and readers of events (webhooks, timelines) never see one without the other.
 */
export async function recordCaseEvent(tx: Queryable, event: CaseEventInput): Promise<string> {
  const id = randomUUID();
  await tx.query(
    `insert into case_events (${CASE_EVENT_COLUMNS})
     values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb)`,
    [
      id,
      event.organizationId,
      event.caseId,
      event.caseProductId ?? null,
      event.actor.kind,
      event.actor.id,
      event.type,
      event.before === null ? null : JSON.stringify(event.before),
      event.after === null ? null : JSON.stringify(event.after),
    ],
  );
  return id;
}
