import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.ts';
import type { CaseReadOptions } from './lifecycle/case-serializer.ts';

/** The operator reads cases with every part, files as base64 (a signed link names an API key). */
export const OPERATOR_READ: CaseReadOptions = {
  includeAttachments: true,
  documentFormat: 'base64',
  includeOrders: true,
  includeCalendarEvents: true,
  includeCaseProducts: true,
};

/**
 * Every case an operator's answer carries (admin API or CLI) is audited as a `case.read` of that case by no API
 * key, under the request's id, naming the staff ADMIN when one called the admin API with their session.
 */
export function auditOperatorReads(
  auditLog: AuditLog,
  read: {
    organizationId: string;
    caseIds: readonly string[];
    requestId: string;
    clientAddress: string | null;
    staffId?: string | null;
  },
): void {
  const occurredAt = new Date();
  for (const caseId of read.caseIds) {
    auditLog.record({
      id: randomUUID(),
      organizationId: read.organizationId,
      apiKeyId: null,
      staffId: read.staffId ?? null,
      action: 'case.read',
      resourceType: 'case',
      resourceId: caseId,
      outcome: 'success',
      statusCode: 200,
      requestId: read.requestId,
      clientAddress: read.clientAddress,
      occurredAt,
    });
  }
}
