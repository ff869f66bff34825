import type { Queryable } from '../../db/database.ts';
import type { Tenant } from '../../http/gate.ts';
import { WebhookRepository } from './repository.ts';

/** The published webhook event names (the Care360 webhooks page), any of which an endpoint may subscribe to. */
export const WEBHOOK_EVENTS = [
  'ADD_CASE_ASSIGNEE',
  'ADD_CASE_ATTACHMENT',
  'ADD_CASE_COMMENT',
  'ADD_CASE_DECISION',
  'ADD_FORM_RESPONSE',
  'ADD_HR_REP',
  'ADD_PAYMENT_INFO_USING_LINK',
  'ARCHIVE_CASE',
  'CALENDAR_EVENT_CANCELED',
  'CALENDAR_EVENT_CREATED',
  'CALENDAR_EVENT_NO_SHOW',
  'CALENDAR_EVENT_NO_SHOW_REMOVED',
  'CALENDAR_EVENT_RESCHEDULED',
  'CALENDAR_EVENT_STATUS_UPDATED',
  'CHANGE_CASE_STATUS',
  'COMMENT_ACKNOWLEDGED',
  'CREATE_CASE',
  'DECISION_DELETED',
  'DEESCALATE_CASE',
  'DELETE_ATTACHMENT',
  'DELETE_CASE_COMMENT',
  'ESCALATE_CASE',
  'FOLLOWUP_EMAIL',
  'FOLLOWUP_FORM',
  'IMPORT_CASE',
  'INBOUND_EMAIL',
  'NOTE_ACKNOWLEDGED',
  'ORDER_CREATED',
  'ORDER_STATUS_CHANGED',
  'ORDER_TRACKING_ADDED',
  'OUTBOUND_EMAIL',
  'PAYMENT_ADDED',
  'PAYMENT_COMPLETED',
  'PAYMENT_INFO_LINK_SENT',
  'REMOVE_CASE_ASSIGNEE',
  'REMOVE_HR_REP',
  'REOPEN_CASE',
  'SMS_RECEIVED',
  'SMS_SENT',
  'SUPPORT_NOTE_ADDED',
  'SUPPORT_NOTE_COMPLETED',
  'SUPPORT_NOTE_UPDATED',
  'TEXT_INFO',
  'UPDATE_FORM_RESPONSE',
  'VISIT_TYPE_CHANGED',
] as const;

export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface WebhookEventInput {
  /** The case the event is about: events of one case reach an endpoint in the order they were enqueued. */
  caseId: string | null;
  event: WebhookEvent;
  /** The case event's id: one delivery per endpoint per event id, whatever calls this twice. */
  eventId: string;
  /**
   * Ids of the event's own objects (`{ commentId }`, `{ decisionId }`), which the payload renderer reads when the
   * delivery is sent. Ids only: the queue holds no PHI.
   */
  subject?: Record<string, string>;
}

/**
 * The SQL that queues one event for every enabled endpoint of the organization subscribed to it: one delivery
 * per endpoint, none twice for one event id, none at all when the organization has no such endpoint. Each
 * value is an SQL expression (a parameter, a column of `from`), so the insert can be a statement of its own or
 * one step of a larger one (the case event writer's, the intake's) and share its transaction. `from` is a row
 * source the insert is joined with (the intake's new case): no row there, nothing queued.
 */
export function enqueueDeliveriesSql(values: {
  organizationId: string;
  caseId: string;
  event: string;
  eventId: string;
  subject: string;
  from?: string;
}): string {
  return `insert into webhook_deliveries (id, endpoint_id, organization_id, case_id, event, event_id, subject)
     select gen_random_uuid(), endpoint.id, endpoint.organization_id, ${values.caseId}, ${values.event},
            ${values.eventId}, ${values.subject}
       from ${values.from ? `${values.from}, ` : ''}webhook_endpoints endpoint
      where endpoint.organization_id = ${values.organizationId} and endpoint.disabled_at is null
        and (endpoint.events is null or ${values.event} = any (endpoint.events))
      order by endpoint.created_at, endpoint.id
     on conflict (endpoint_id, event_id) do nothing`;
}

/**
 * Queues an event for every endpoint of the organization that subscribes to it. Call it with the transaction of
 * the change the event reports: a rollback publishes nothing, a commit loses nothing. Case events are queued by
 * their writer (src/modules/cases/lifecycle/events.ts); this serves events that are not a case's.
 */
export async function enqueueWebhookEvent(tx: Queryable, tenant: Tenant, input: WebhookEventInput): Promise<number> {
  return new WebhookRepository(tx, tenant).enqueue({
    caseId: input.caseId,
    event: input.event,
    eventId: input.eventId,
    subject: input.subject ?? {},
  });
}
