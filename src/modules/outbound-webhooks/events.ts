import type { Queryable } from '../../db/database.ts';
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
  organizationId: string;
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
 * Queues an event for every endpoint of the organization that subscribes to it. Call it with the transaction of
 * the change the event reports: a rollback publishes nothing, a commit loses nothing. One statement, which
 * writes nothing when the organization has no endpoint.
 */
export async function enqueueWebhookEvent(tx: Queryable, input: WebhookEventInput): Promise<number> {
  return new WebhookRepository(tx).enqueue({
    organizationId: input.organizationId,
    caseId: input.caseId,
    event: input.event,
    eventId: input.eventId,
    subject: input.subject ?? {},
  });
}
