import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditLog } from '../modules/audit/audit-log.ts';
import type { AuditEvent } from '../modules/audit/repository.ts';
import { appendRouteHook } from './route-hooks.ts';

/** What a route declares to have its requests audited: `config: { audit: { action, resourceType } }`. */
export interface AuditRouteConfig {
  /** What was done, `<resource>.<verb>`: `case.create`, `case.read`, `payment.create`, `file.read`. */
  action: string;
  /** The kind of resource: `case`, `form`, `payment`, `file`. */
  resourceType: string;
  /**
   * The route param that holds the resource id. Default: `<resourceType>Id` (`caseId` for `case`).
   * A handler that creates the resource sets `request.auditResourceId` instead, which wins.
   */
  resourceIdParam?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Record an audit event for every request to this route (src/http/audit.ts). */
    audit?: AuditRouteConfig;
  }
  interface FastifyRequest {
    /** The id of the resource this request touched, for the audit event (e.g. a new case's id). */
    auditResourceId: string | null;
    /**
     * The organization of the resource, on routes whose caller is not an organization's key (the staff API
     * across organizations); a key's organization wins.
     */
    auditOrganizationId: string | null;
    /**
     * Set by a handler whose statement wrote the request's success event with the data it read (`readEventOf`):
     * the hook then writes an event only if the answer still fails.
     */
    auditRecorded: boolean;
  }
}

/** Ids are short; anything longer in a param is not an id, and is cut rather than stored whole. */
const MAX_RESOURCE_ID_LENGTH = 200;

/**
 * Declarative audit events: a route with `config.audit` gets one event per request, written after the
 * response has gone (onResponse), so the database write is never on the request's critical path and
 * its failure never changes the response. Requests refused by the rate limiter (429) reached nothing
 * and are not recorded. Events hold identifiers only: never a body, a query string or a header value.
 */
export function registerAudit(app: FastifyInstance, options: { auditLog: AuditLog }): void {
  app.decorateRequest('auditResourceId', null);
  app.decorateRequest('auditOrganizationId', null);
  app.decorateRequest('auditRecorded', false);

  // Only on the routes that declare `audit`; `record` only queues, so the hook need not be async.
  app.addHook('onRoute', (route) => {
    const audit = route.config?.audit;
    if (!audit) return;
    appendRouteHook(route, 'onResponse', (request, reply, done) => {
      if (reply.statusCode !== 429 && !(request.auditRecorded && reply.statusCode < 400)) {
        options.auditLog.record(auditEventOf(request, audit, reply.statusCode), (failure) => {
          request.log.error({ audit: failure }, 'audit event could not be written');
        });
      }
      done();
    });
  });

  // Writes still in flight finish before the app (and the database under it) closes.
  app.addHook('onClose', async () => options.auditLog.flush());
}

/**
 * The success event of a request to an audited route, for a statement that writes it with the read it records
 * (insertEventSql: the statement names the resource). The handler then sets `request.auditRecorded`.
 */
export function readEventOf(request: FastifyRequest): Omit<AuditEvent, 'resourceId'> {
  const audit = request.routeOptions.config.audit;
  if (!audit) throw new Error(`${request.routeOptions.url ?? request.url} declares no config.audit`);
  return auditEventOf(request, audit, 200);
}

function auditEventOf(request: FastifyRequest, audit: AuditRouteConfig, statusCode: number): AuditEvent {
  // `scope` is null when authentication failed or the route takes none.
  const scope = request.scope as FastifyRequest['scope'] | null;
  return {
    id: randomUUID(),
    organizationId: scope?.tenant.organizationId ?? request.auditOrganizationId ?? null,
    apiKeyId: scope?.apiKeyId ?? null,
    staffId: request.staff?.staffId ?? null,
    action: audit.action,
    resourceType: audit.resourceType,
    resourceId: resourceIdOf(request, audit),
    outcome: statusCode < 400 ? 'success' : 'failure',
    statusCode,
    requestId: request.id,
    clientAddress: request.ip ?? null,
    occurredAt: new Date(),
  };
}

function resourceIdOf(request: FastifyRequest, audit: AuditRouteConfig): string | null {
  if (request.auditResourceId) return request.auditResourceId.slice(0, MAX_RESOURCE_ID_LENGTH);
  const params = request.params as Record<string, unknown> | undefined;
  const value = params?.[audit.resourceIdParam ?? `${audit.resourceType}Id`];
  return typeof value === 'string' && value !== '' ? value.slice(0, MAX_RESOURCE_ID_LENGTH) : null;
}
