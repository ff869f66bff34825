import { prepared, type Queryable } from '../../db/database.ts';

export type AuditOutcome = 'success' | 'failure';

/** One access to protected data, as it is written: identifiers only, never PHI. */
export interface AuditEvent {
  id: string;
  organizationId: string | null;
  apiKeyId: string | null;
  /** The staff member who made the request (staff API); absent or null for API keys and operators. */
  staffId?: string | null;
  action: string;
  resourceType: string;
  resourceId: string | null;
  outcome: AuditOutcome;
  statusCode: number;
  requestId: string;
  clientAddress: string | null;
  /** Millisecond precision (the column keeps exactly what JavaScript gives). */
  occurredAt: Date;
}

export interface AuditEventRow {
  id: string;
  organization_id: string | null;
  api_key_id: string | null;
  staff_id: string | null;
  action: string;
  resource_type: string;
  resource_id: string | null;
  outcome: AuditOutcome;
  status_code: number;
  request_id: string;
  client_address: string | null;
  occurred_at: Date;
}

export interface AuditEventFilter {
  organizationId?: string;
  staffId?: string;
  action?: string;
  resourceType?: string;
  resourceId?: string;
  /** Inclusive lower bound on occurred_at. */
  from?: Date;
  /** Exclusive upper bound on occurred_at. */
  to?: Date;
  /** Keyset position: events strictly older than this one (newest first). */
  before?: { occurredAt: Date; id: string };
}

/** Audited requests write their events with it, in batches (AuditLog). */
const INSERT_EVENTS = prepared(
  `insert into audit_events (id, organization_id, api_key_id, action, resource_type, resource_id, outcome,
                             status_code, request_id, client_address, occurred_at, staff_id)
   select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
                        $8::int[], $9::text[], $10::text[], $11::timestamptz[], $12::uuid[])`,
);

/** A NUL character, or a UTF-16 surrogate without its pair. */
const UNRECORDABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text as PostgreSQL can store it: a NUL (which text refuses, SQLSTATE 22021) or a lone surrogate (which
 * UTF-8 cannot encode) becomes U+FFFD, so the event is written and still shows that something was there.
 * Removed instead, `abc<NUL>` would be recorded as the id `abc`. A resource id comes from the request's path.
 */
function recordable(value: string | null): string | null {
  return value === null ? null : value.replace(UNRECORDABLE, '\uFFFD');
}

/** The columns of one event, in the order of `eventParams`; every one is the statement's parameter but `resource_id`. */
const EVENT_COLUMNS = `id, organization_id, api_key_id, staff_id, action, resource_type, outcome, status_code, request_id,
  client_address, occurred_at`;
const EVENT_PARAMETERS = 11;

/**
 * The insert of one event inside another statement, for a read that records itself with the data it reads: the
 * event names each row of `from` (a CTE with an `id` column) as its resource, so nothing is written when `from`
 * is empty. Its 11 parameters start at `$first` (`eventParams`); a null event id writes nothing either.
 */
export function insertEventSql(from: string, first: number): string {
  const at = (index: number, type: string) => `$${first + index}::${type}`;
  const types = ['uuid', 'uuid', 'uuid', 'uuid', 'text', 'text', 'text', 'integer', 'text', 'text', 'timestamptz'];
  return `insert into audit_events (${EVENT_COLUMNS}, resource_id)
   select ${types.map((type, index) => at(index, type)).join(', ')}, ${from}.id::text
     from ${from} where ${at(0, 'uuid')} is not null`;
}

/** The parameters of `insertEventSql`: this event (its resourceId is the row's), or nothing written for null. */
export function eventParams(event: Omit<AuditEvent, 'resourceId'> | null): unknown[] {
  if (!event) return new Array<null>(EVENT_PARAMETERS).fill(null);
  return [
    event.id,
    event.organizationId,
    event.apiKeyId,
    event.staffId ?? null,
    recordable(event.action),
    recordable(event.resourceType),
    event.outcome,
    event.statusCode,
    recordable(event.requestId),
    recordable(event.clientAddress),
    event.occurredAt.toISOString(),
  ];
}

/**
 * The audit store. Insert and select only: the table's triggers refuse UPDATE, DELETE and TRUNCATE.
 * Not scoped by organization: it is read only through the operator (admin) API.
 */
export class AuditRepository {
  constructor(private readonly db: Queryable) {}

  async insert(event: AuditEvent): Promise<void> {
    await this.insertMany([event]);
  }

  /** All the events in one statement (one round trip and one commit, whatever their number). */
  async insertMany(events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    const column = <Value>(value: (event: AuditEvent) => Value) => events.map(value);
    const text = (value: (event: AuditEvent) => string | null) => events.map((event) => recordable(value(event)));
    await this.db.query(INSERT_EVENTS, [
      column((event) => event.id),
      column((event) => event.organizationId),
      column((event) => event.apiKeyId),
      text((event) => event.action),
      text((event) => event.resourceType),
      text((event) => event.resourceId),
      column((event) => event.outcome),
      column((event) => event.statusCode),
      text((event) => event.requestId),
      text((event) => event.clientAddress),
      column((event) => event.occurredAt.toISOString()),
      column((event) => event.staffId ?? null),
    ]);
  }

  /** Newest first, at most `limit` rows. */
  async list(filter: AuditEventFilter, limit: number): Promise<AuditEventRow[]> {
    const conditions: string[] = [];
    const params: unknown[] = [];
    const add = (condition: (placeholder: string) => string, value: unknown) => {
      params.push(value);
      conditions.push(condition(`$${params.length}`));
    };
    if (filter.organizationId !== undefined) add((p) => `organization_id = ${p}`, filter.organizationId);
    if (filter.staffId !== undefined) add((p) => `staff_id = ${p}`, filter.staffId);
    if (filter.action !== undefined) add((p) => `action = ${p}`, filter.action);
    if (filter.resourceType !== undefined) add((p) => `resource_type = ${p}`, filter.resourceType);
    if (filter.resourceId !== undefined) add((p) => `resource_id = ${p}`, filter.resourceId);
    if (filter.from !== undefined) add((p) => `occurred_at >= ${p}`, filter.from);
    if (filter.to !== undefined) add((p) => `occurred_at < ${p}`, filter.to);
    if (filter.before !== undefined) {
      params.push(filter.before.occurredAt, filter.before.id);
      conditions.push(`(occurred_at, id) < ($${params.length - 1}, $${params.length}::uuid)`);
    }
    params.push(limit);
    const { rows } = await this.db.query<AuditEventRow>(
      `select id, organization_id, api_key_id, staff_id, action, resource_type, resource_id, outcome, status_code,
              request_id, client_address, occurred_at
         from audit_events
        ${conditions.length > 0 ? `where ${conditions.join(' and ')}` : ''}
        order by occurred_at desc, id desc
        limit $${params.length}`,
      params,
    );
    return rows;
  }
}
