import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../../db/database.ts';
import { enqueueDeliveriesSql, type WebhookEvent } from '../../outbound-webhooks/events.ts';

/** Who changed a case: a partner's API key, an operator, a staff member, or the server itself (a job). */
export interface CaseEventActor {
  kind: 'api_key' | 'operator' | 'system' | 'staff';
  /** The API key id for `api_key`, the staff member's id for `staff`; null for the server itself. */
  id: string | null;
}

/**
 * Event types, `case.<what happened>`, each with the published webhook event it is sent as (null: recorded, sent to
 * no endpoint): the one table from the case's events to the outbound webhooks' names (the Care360 webhooks page).
 */
export const CASE_EVENT_TYPES = {
  'case.created': 'CREATE_CASE',
  'case.form_response_added': 'ADD_FORM_RESPONSE',
  'case.form_response_updated': 'UPDATE_FORM_RESPONSE',
  /** CHANGE_CASE_STATUS with OPEN, and every other change of `status`. */
  'case.status_changed': 'CHANGE_CASE_STATUS',
  /** CHANGE_CASE_STATUS with CLOSE. */
  'case.archived': 'ARCHIVE_CASE',
  /** CHANGE_CASE_STATUS with REOPEN. */
  'case.reopened': 'REOPEN_CASE',
  'case.assignee_added': 'ADD_CASE_ASSIGNEE',
  'case.assignee_removed': 'REMOVE_CASE_ASSIGNEE',
  'case.decision_added': 'ADD_CASE_DECISION',
  'case.decision_deleted': 'DECISION_DELETED',
  'case.comment_added': 'ADD_CASE_COMMENT',
  'case.comment_deleted': 'DELETE_CASE_COMMENT',
  'case.attachment_added': 'ADD_CASE_ATTACHMENT',
  'case.attachment_deleted': 'DELETE_ATTACHMENT',
  'case.escalated': 'ESCALATE_CASE',
  'case.deescalated': 'DEESCALATE_CASE',
  'case.payment_added': 'PAYMENT_ADDED',
  // The payment's events below follow its state (src/modules/payments/payment-events.ts derives which one a change
  // writes). The published pages name only PAYMENT_ADDED and PAYMENT_COMPLETED: every change that settles what
  // becomes of the money is sent as PAYMENT_COMPLETED, whose payload's payment carries the new status
  // (docs/api/webhooks.md#payment-events).
  /** Paid: captured, charged, or found paid at the gateway. */
  'case.payment_completed': 'PAYMENT_COMPLETED',
  /** A refund, whole or partial: the payload's payment has status REFUND. */
  'case.payment_refunded': 'PAYMENT_COMPLETED',
  /** A charge or hold declined or refused: the payload's payment has status ERROR. */
  'case.payment_failed': 'PAYMENT_COMPLETED',
  /** A hold released (cancel route, rejection, Stripe): status CANCELED, holdStatus RELEASED. */
  'case.payment_released': 'PAYMENT_COMPLETED',
  /** An UNPAID payment without a hold canceled: status CANCELED. */
  'case.payment_canceled': 'PAYMENT_COMPLETED',
  /** A dispute opened at the gateway: status IN_DISPUTE. */
  'case.payment_disputed': 'PAYMENT_COMPLETED',
  /** A dispute lost: status LOST_DISPUTE. */
  'case.payment_dispute_lost': 'PAYMENT_COMPLETED',
  /** A dispute won: status PAID again. */
  'case.payment_dispute_won': 'PAYMENT_COMPLETED',
  /**
   * A pending hold found placed (the gateway's answer, a Stripe webhook, the NMI sweep). Money is neither taken nor
   * given back, so it is sent to no webhook endpoint: the capture or release that follows is.
   */
  'case.payment_held': null,
} as const satisfies Record<string, WebhookEvent | null>;

export type CaseEventType = keyof typeof CASE_EVENT_TYPES;

export const CASE_CREATED = 'case.created' satisfies CaseEventType;

/** The published webhook event of a case event type; null for a type sent to no endpoint. */
export const publishedEventOf = (type: CaseEventType): WebhookEvent | null => CASE_EVENT_TYPES[type];

/**
 * The ids of an event's own objects, which its webhook payload carries (`payload.comment` for `commentId`, ...).
 * Ids only: the queue holds no PHI.
 */
export interface CaseEventSubject {
  commentId?: string;
  decisionId?: string;
  attachmentId?: string;
  paymentId?: string;
  formResponseId?: string;
  assigneeId?: string;
}

/** What a change records. `before` and `after` hold identifiers and states only, never PHI. */
export interface CaseEventInput {
  organizationId: string;
  caseId: string;
  /** The case product the change is about, once case products exist. */
  caseProductId?: string;
  actor: CaseEventActor;
  type: CaseEventType;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  /** The event's own objects, for its webhook payload. */
  subject?: CaseEventSubject;
  /**
   * False: the event is recorded but sent to no webhook endpoint (a comment added with `webhookNotify: false`).
   */
  notify?: boolean;
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

const INSERT_CASE_EVENT = `insert into case_events (${CASE_EVENT_COLUMNS})
  values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb)`;

/** The event and its webhook deliveries, in one statement: nothing is queued when no endpoint subscribes. */
const INSERT_CASE_EVENT_AND_DELIVERIES = `with case_event as (${INSERT_CASE_EVENT})
  ${enqueueDeliveriesSql({
    organizationId: '$2::uuid',
    caseId: '$3::uuid',
    event: '$10::text',
    eventId: '$1::uuid',
    subject: '$11::jsonb',
  })}`;

/**
 * Locks the case before its event takes its place in the webhook queue (the deliveries' `sequence`). Held until
 * commit, the lock makes one case's deliveries commit in the order of their sequence, so the claim, which holds a
 * delivery back while an earlier one of its case is pending, never sees a later event before an earlier one has
 * committed. Without it, two transactions changing one case (two payments of an approved case settled at once)
 * could commit in the other order and the later event be sent first. `no key update`: rows that reference the
 * case (comments, payments, the event itself) are still inserted meanwhile. Lock order: a payment, then its case
 * (changePayment); nothing locks a payment after its case.
 */
const LOCK_CASE = 'select 1 from cases where organization_id = $1 and id = $2 for no key update';

/**
 * Records one change to a case, and queues its webhook for every endpoint of the organization subscribed to it.
 * `tx` is the transaction of the change itself: the event and its deliveries exist exactly when the change does,
 * and readers of events (webhooks, timelines) never see one without the other.
 */
export async function recordCaseEvent(tx: Queryable, event: CaseEventInput): Promise<string> {
  const id = randomUUID();
  const values = [
    id,
    event.organizationId,
    event.caseId,
    event.caseProductId ?? null,
    event.actor.kind,
    event.actor.id,
    event.type,
    event.before === null ? null : JSON.stringify(event.before),
    event.after === null ? null : JSON.stringify(event.after),
  ];
  const published = publishedEventOf(event.type);
  if (event.notify === false || published === null) await tx.query(INSERT_CASE_EVENT, values);
  else {
    await tx.query(LOCK_CASE, [event.organizationId, event.caseId]);
    await tx.query(INSERT_CASE_EVENT_AND_DELIVERIES, [...values, published, JSON.stringify(event.subject ?? {})]);
  }
  return id;
}
