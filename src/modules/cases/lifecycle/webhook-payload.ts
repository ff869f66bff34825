import { Tenant } from '../../../http/gate.ts';
import type { RenderRequest, WebhookPayloadRenderer } from '../../outbound-webhooks/delivery-worker.ts';
import {
  recordsToInclude,
  type CaseReadOptions,
  type CaseSerializer,
  type SerializedAttachment,
  type SerializedCase,
} from './case-serializer.ts';
import { CASE_EVENT_TYPES, type CaseEventSubject } from './events.ts';
import { CaseReadRepository } from './read-repository.ts';

/** The records a case gathers: the full case carries them, the basic case does not. */
type Gathered = 'responses' | 'decisions' | 'comments' | 'attachments' | 'payments';

/** The case as "only event data" sends it: its own fields and submitter, without what it gathered. */
export type BasicCase = Omit<SerializedCase, Gathered> & Partial<Pick<SerializedCase, 'responses'>>;

/** The published name of the intake's event: its payload's own objects are the answers it brought. */
const CREATE_CASE = CASE_EVENT_TYPES['case.created'];

function basicCase(full: SerializedCase, event: string): BasicCase {
  const {
    responses,
    decisions: _decisions,
    comments: _comments,
    attachments: _attachments,
    payments: _payments,
    ...basic
  } = full;
  return event === CREATE_CASE ? { ...basic, responses } : basic;
}

function findAttachment(full: SerializedCase, id: string): SerializedAttachment | undefined {
  return (
    full.attachments.find((attachment) => attachment.id === id) ??
    full.comments.flatMap((comment) => comment.attachments).find((attachment) => attachment.id === id)
  );
}

/**
 * The event's own objects, as the case serializer shows them (`payload.comment` for ADD_CASE_COMMENT,
 * `payload.decision` for ADD_CASE_DECISION, ...). An object deleted by the event itself (DELETE_CASE_COMMENT,
 * DECISION_DELETED) is named by its id.
 */
function eventObjects(full: SerializedCase, subject: CaseEventSubject): Record<string, unknown> {
  const objects: Record<string, unknown> = {};
  const byId = <Item extends { id: string }>(items: Item[], id: string) =>
    items.find((item) => item.id === id) ?? { id };
  if (subject.commentId) objects.comment = byId(full.comments, subject.commentId);
  if (subject.decisionId) objects.decision = byId(full.decisions, subject.decisionId);
  if (subject.attachmentId) {
    objects.attachment = findAttachment(full, subject.attachmentId) ?? { id: subject.attachmentId };
  }
  if (subject.paymentId) objects.payment = byId(full.payments, subject.paymentId);
  if (subject.formResponseId) objects.formResponse = byId(full.responses, subject.formResponseId);
  if (subject.assigneeId) objects.assignee = { id: subject.assigneeId };
  return objects;
}

/**
 * The payloads of case webhooks, through the one case serializer: `{ case, <event objects> }`, the case full
 * (`sendFullCaseData`) or basic, attachments inline in base64 or as signed links valid 15 minutes per the
 * endpoint's `documentFormat`. A link is issued to the endpoint (in the place of an API key) and points under
 * `publicUrl`. The worker renders a payload once, on the first attempt, and keeps it sealed for the retries.
 * A claimed batch is rendered together: one read of its cases and one pass of the serializer per endpoint and
 * set of options, whatever the number of deliveries.
 */
export function caseWebhookPayloads(deps: { serializer: CaseSerializer; publicUrl: string }): WebhookPayloadRenderer {
  return async (db, requests) => {
    const results: (Record<string, unknown> | Error)[] = requests.map((request) =>
      request.caseId === null ? { case: null, ...request.subject } : new Error('not rendered'),
    );
    const groups = new Map<string, number[]>();
    requests.forEach((request, index) => {
      if (request.caseId === null) return;
      const key = JSON.stringify([
        request.organizationId,
        request.endpointId,
        includesAttachments(request),
        request.documentFormat,
      ]);
      groups.set(key, [...(groups.get(key) ?? []), index]);
    });
    for (const indexes of groups.values()) {
      const first = requests[indexes[0]!]!;
      // The queue names the organization of the endpoint: a delivery renders a case of that organization only.
      const tenant = Tenant.forOperator(first.organizationId, 'a webhook delivery renders its organization’s case');
      const caseIds = [...new Set(indexes.map((index) => requests[index]!.caseId!))];
      const options: CaseReadOptions = {
        includeAttachments: includesAttachments(first),
        documentFormat: first.documentFormat === 'URL' ? 'url' : 'base64',
        includeOrders: false,
        includeCalendarEvents: false,
        includeCaseProducts: false,
      };
      const rows = await new CaseReadRepository(db, tenant).findCases(caseIds, recordsToInclude(options));
      const serialized = await deps.serializer.serialize(
        db,
        { tenant, apiKeyId: first.endpointId, baseUrl: deps.publicUrl },
        rows,
        options,
      );
      const byId = new Map(serialized.map((full) => [full.id, full]));
      for (const index of indexes) {
        const request = requests[index]!;
        const full = byId.get(request.caseId!);
        results[index] = full
          ? {
              case: request.sendFullCaseData ? full : basicCase(full, request.event),
              ...eventObjects(full, request.subject as CaseEventSubject),
            }
          : new Error('the case of this event does not exist');
      }
    }
    return results;
  };
}

/** Attachments are read for the full case, and for the events about a comment or an attachment. */
function includesAttachments(request: RenderRequest): boolean {
  const subject = request.subject as CaseEventSubject;
  return request.sendFullCaseData || subject.commentId !== undefined || subject.attachmentId !== undefined;
}
