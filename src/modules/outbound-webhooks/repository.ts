import { randomUUID } from 'node:crypto';
import { prepared, type Queryable } from '../../db/database.ts';
import type { Tenant } from '../../http/gate.ts';
import { enqueueDeliveriesSql } from './events.ts';

export type DocumentFormat = 'BASE64' | 'URL';

export interface WebhookEndpointRow {
  id: string;
  organization_id: string;
  url: string;
  secret_sealed: string;
  events: string[] | null;
  document_format: DocumentFormat;
  send_full_case_data: boolean;
  disabled_at: Date | null;
  disabled_reason: string | null;
  failing_since: Date | null;
  created_at: Date;
  updated_at: Date;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDeliveryRow {
  id: string;
  endpoint_id: string;
  organization_id: string;
  case_id: string | null;
  event: string;
  event_id: string;
  subject: Record<string, string>;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: Date;
  body_sealed: string | null;
  created_at: Date;
  delivered_at: Date | null;
  last_error: string | null;
}

export interface WebhookAttemptRow {
  id: string;
  delivery_id: string;
  attempted_at: Date;
  duration_ms: number;
  outcome: 'delivered' | 'failed';
  response_status: number | null;
  response_body: string | null;
  error: string | null;
}

/** A claimed delivery, with what its send needs of its endpoint. */
export interface ClaimedDelivery extends WebhookDeliveryRow {
  endpoint_url: string;
  endpoint_secret_sealed: string;
  endpoint_document_format: DocumentFormat;
  endpoint_send_full_case_data: boolean;
}

export interface AttemptOutcome {
  deliveryId: string;
  endpointId: string;
  delivered: boolean;
  durationMs: number;
  responseStatus: number | null;
  responseBody: string | null;
  error: string | null;
  /** After a failure: when to try again; null: tried for long enough, failed for good. */
  retryInSeconds: number | null;
}

export interface EndpointChanges {
  url?: string;
  events?: string[] | null;
  document_format?: DocumentFormat;
  send_full_case_data?: boolean;
  enabled?: boolean;
  secret_sealed?: string;
}

const ENDPOINT_COLUMNS = `id, organization_id, url, secret_sealed, events, document_format, send_full_case_data,
  disabled_at, disabled_reason, failing_since, created_at, updated_at`;

const DELIVERY_COLUMNS = `id, endpoint_id, organization_id, case_id, event, event_id, subject, status, attempts,
  next_attempt_at, body_sealed, created_at, delivered_at, last_error`;

const CLAIM = prepared(`with due as (
     select d.id from webhook_deliveries d
       join webhook_endpoints e on e.id = d.endpoint_id and e.disabled_at is null
      where d.status = 'pending' and d.next_attempt_at <= now()
        and (d.locked_until is null or d.locked_until < now())
        and (d.case_id is null or not exists (
              select 1 from webhook_deliveries earlier
               where earlier.endpoint_id = d.endpoint_id and earlier.case_id = d.case_id
                 and earlier.status = 'pending' and earlier.sequence < d.sequence))
      order by d.next_attempt_at, d.sequence
      limit $1
      for update of d skip locked)
   update webhook_deliveries d
      set locked_until = now() + make_interval(secs => $2), attempts = d.attempts + 1
     from due, webhook_endpoints e
    where d.id = due.id and e.id = d.endpoint_id
   returning ${DELIVERY_COLUMNS.split(',')
     .map((column) => `d.${column.trim()}`)
     .join(', ')}, e.url as endpoint_url, e.secret_sealed as endpoint_secret_sealed,
     e.document_format as endpoint_document_format, e.send_full_case_data as endpoint_send_full_case_data`);

/*
 * Many attempts' outcomes at once. $1-$8 are one array per column, an element per attempt: its id, the delivery,
 * the duration, the outcome ('delivered' or 'failed'), the response status and body, the error, and the retry
 * delay (null: failed for good). $9-$12 are one element per endpoint: its id, the outcome of its last attempt,
 * whether any of its attempts here was delivered, and its last error; $13 is how long an endpoint may fail every
 * delivery before it is disabled. An endpoint's row is written only when its state changes: a success ends a
 * failing streak, a failure starts or continues one (and may end in its disabling); a failure after a success
 * of the same batch starts a new streak.
 *
 * The endpoints to change are locked in the order of their ids (`locked`) before any is updated: statements of
 * workers in several processes often share endpoints, and two that took them in different orders could
 * deadlock. Deliveries need no such order: each is claimed by one worker at a time.
 */
const RECORD_OUTCOMES = prepared(`with outcome as (
     select * from unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::int[], $6::text[], $7::text[],
       $8::float8[]) as o(attempt_id, delivery_id, duration_ms, outcome, response_status, response_body, error,
       retry_in)),
   attempt as (
     insert into webhook_delivery_attempts (id, delivery_id, duration_ms, outcome, response_status, response_body,
       error) select attempt_id, delivery_id, duration_ms, outcome, response_status, response_body, error
       from outcome),
   delivery as (
     update webhook_deliveries d set
       status = case when o.outcome = 'delivered' then 'delivered' when o.retry_in is null then 'failed'
                     else 'pending' end,
       delivered_at = case when o.outcome = 'delivered' then now() else d.delivered_at end,
       next_attempt_at = case when o.outcome = 'failed' and o.retry_in is not null
                              then now() + make_interval(secs => o.retry_in) else d.next_attempt_at end,
       locked_until = null, last_error = o.error
     from outcome o where d.id = o.delivery_id),
   streak as (
     select * from unnest($9::uuid[], $10::text[], $11::boolean[], $12::text[])
       as s(endpoint_id, last_outcome, any_delivered, last_error)),
   locked as (
     select e.id from webhook_endpoints e join streak s on s.endpoint_id = e.id
      where case when s.last_outcome = 'delivered' then e.failing_since is not null else e.disabled_at is null end
      order by e.id
        for no key update of e)
   update webhook_endpoints e set
     failing_since = case when s.last_outcome = 'delivered' then null when s.any_delivered then now()
                          else coalesce(e.failing_since, now()) end,
     disabled_at = case when not s.any_delivered and e.failing_since < now() - make_interval(secs => $13)
                        then now() else e.disabled_at end,
     disabled_reason = case when not s.any_delivered and e.failing_since < now() - make_interval(secs => $13)
       then 'Disabled after failing every delivery since ' || to_char(e.failing_since at time zone 'UTC',
         'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '; last error: ' || s.last_error
       else e.disabled_reason end,
     updated_at = case when s.last_outcome = 'failed' then now() else e.updated_at end
     from streak s, locked l
   where e.id = s.endpoint_id and l.id = e.id
     and case when s.last_outcome = 'delivered' then e.failing_since is not null else e.disabled_at is null end
   returning e.id as endpoint_id, s.last_outcome = 'failed' and e.disabled_at is not null as disabled`);

const SAVE_BODIES = prepared(`update webhook_deliveries d set body_sealed = b.body_sealed
   from unnest($1::uuid[], $2::text[]) as b(id, body_sealed)
  where d.id = b.id and d.body_sealed is null`);

/**
 * An organization's webhook endpoints and deliveries (given once, at construction): every statement filters on
 * it, so another organization's endpoint or delivery reads as one that does not exist.
 */
export class WebhookRepository {
  private readonly organizationId: string;

  constructor(
    private readonly db: Queryable,
    tenant: Tenant,
  ) {
    this.organizationId = tenant.organizationId;
  }

  async createEndpoint(input: {
    url: string;
    secretSealed: string;
    events: string[] | null;
    documentFormat: DocumentFormat;
    sendFullCaseData: boolean;
  }): Promise<WebhookEndpointRow> {
    const { rows } = await this.db.query<WebhookEndpointRow>(
      `insert into webhook_endpoints (id, organization_id, url, secret_sealed, events, document_format,
         send_full_case_data)
       values ($1, $2, $3, $4, $5::text[], $6, $7) returning ${ENDPOINT_COLUMNS}`,
      [
        randomUUID(),
        this.organizationId,
        input.url,
        input.secretSealed,
        input.events,
        input.documentFormat,
        input.sendFullCaseData,
      ],
    );
    return rows[0]!;
  }

  async listEndpoints(): Promise<WebhookEndpointRow[]> {
    const { rows } = await this.db.query<WebhookEndpointRow>(
      `select ${ENDPOINT_COLUMNS} from webhook_endpoints where organization_id = $1 order by created_at, id`,
      [this.organizationId],
    );
    return rows;
  }

  async findEndpoint(endpointId: string): Promise<WebhookEndpointRow | null> {
    const { rows } = await this.db.query<WebhookEndpointRow>(
      `select ${ENDPOINT_COLUMNS} from webhook_endpoints where organization_id = $1 and id = $2`,
      [this.organizationId, endpointId],
    );
    return rows[0] ?? null;
  }

  async updateEndpoint(endpointId: string, changes: EndpointChanges): Promise<WebhookEndpointRow | null> {
    const { rows } = await this.db.query<WebhookEndpointRow>(
      `update webhook_endpoints set
         url = coalesce($3, url),
         events = case when $4::boolean then $5::text[] else events end,
         document_format = coalesce($6, document_format),
         send_full_case_data = coalesce($7, send_full_case_data),
         secret_sealed = coalesce($8, secret_sealed),
         disabled_at = case when $9::boolean is null then disabled_at
                            when $9 then null else coalesce(disabled_at, now()) end,
         disabled_reason = case when $9::boolean is null then disabled_reason
                                when $9 then null else 'Disabled by an operator' end,
         failing_since = case when $9::boolean then null else failing_since end,
         updated_at = now()
       where organization_id = $1 and id = $2
       returning ${ENDPOINT_COLUMNS}`,
      [
        this.organizationId,
        endpointId,
        changes.url ?? null,
        changes.events !== undefined,
        changes.events ?? null,
        changes.document_format ?? null,
        changes.send_full_case_data ?? null,
        changes.secret_sealed ?? null,
        changes.enabled ?? null,
      ],
    );
    return rows[0] ?? null;
  }

  async deleteEndpoint(endpointId: string): Promise<boolean> {
    const { rowCount } = await this.db.query('delete from webhook_endpoints where organization_id = $1 and id = $2', [
      this.organizationId,
      endpointId,
    ]);
    return rowCount > 0;
  }

  /** One delivery per enabled endpoint of the organization subscribed to the event; none twice for one event. */
  async enqueue(input: {
    caseId: string | null;
    event: string;
    eventId: string;
    subject: Record<string, string>;
  }): Promise<number> {
    const { rowCount } = await this.db.query(
      enqueueDeliveriesSql({
        organizationId: '$1::uuid',
        caseId: '$2::uuid',
        event: '$3::text',
        eventId: '$4::uuid',
        subject: '$5::jsonb',
      }),
      [this.organizationId, input.caseId, input.event, input.eventId, JSON.stringify(input.subject)],
    );
    return rowCount;
  }

  async listDeliveries(
    endpointId: string,
    options: { status?: DeliveryStatus; limit: number },
  ): Promise<WebhookDeliveryRow[]> {
    const { rows } = await this.db.query<WebhookDeliveryRow>(
      `select ${DELIVERY_COLUMNS} from webhook_deliveries
        where organization_id = $1 and endpoint_id = $2 and ($3::text is null or status = $3)
        order by sequence desc limit $4`,
      [this.organizationId, endpointId, options.status ?? null, options.limit],
    );
    return rows;
  }

  async attemptsOf(deliveryIds: string[]): Promise<WebhookAttemptRow[]> {
    if (deliveryIds.length === 0) return [];
    const { rows } = await this.db.query<WebhookAttemptRow>(
      `select a.id, a.delivery_id, a.attempted_at, a.duration_ms, a.outcome, a.response_status, a.response_body,
              a.error
         from webhook_delivery_attempts a
         join webhook_deliveries d on d.id = a.delivery_id and d.organization_id = $2
        where a.delivery_id = any ($1::uuid[]) order by a.attempted_at, a.id`,
      [deliveryIds, this.organizationId],
    );
    return rows;
  }

  /** Sends a delivery again (a delivered or failed one too), as soon as a worker is free. */
  async redeliver(endpointId: string, deliveryId: string): Promise<WebhookDeliveryRow | null> {
    const { rows } = await this.db.query<WebhookDeliveryRow>(
      `update webhook_deliveries set status = 'pending', next_attempt_at = now(), locked_until = null
        where organization_id = $1 and endpoint_id = $2 and id = $3
        returning ${DELIVERY_COLUMNS}`,
      [this.organizationId, endpointId, deliveryId],
    );
    return rows[0] ?? null;
  }

  /** Every failed delivery of the endpoint created since `since`, pending again; answers how many. */
  async redeliverFailedSince(endpointId: string, since: Date): Promise<number> {
    const { rowCount } = await this.db.query(
      `update webhook_deliveries set status = 'pending', next_attempt_at = now(), locked_until = null
        where organization_id = $1 and endpoint_id = $2 and status = 'failed' and created_at >= $3`,
      [this.organizationId, endpointId, since],
    );
    return rowCount;
  }
}

/**
 * The delivery queue as the workers see it, across organizations: claiming due deliveries and recording what
 * came of them. Rows are reached by their own ids (a claimed delivery, its endpoint), never by a caller's input.
 */
export class WebhookQueue {
  constructor(private readonly db: Queryable) {}

  /**
   * Claims up to `limit` due deliveries for `leaseSeconds`, in one statement, each with what its send needs of
   * its endpoint: of enabled endpoints, not claimed by a live lease, and the first still pending of their case
   * at their endpoint (ordering per case). SKIP LOCKED lets workers in several processes claim side by side
   * without waiting on each other or taking the same row.
   */
  async claim(limit: number, leaseSeconds: number): Promise<ClaimedDelivery[]> {
    const { rows } = await this.db.query<ClaimedDelivery>(CLAIM, [limit, leaseSeconds]);
    return rows;
  }

  /**
   * The bodies as first rendered, sealed, before they are first sent (one statement for a claimed batch): a copy
   * sent after a crash has the same bytes.
   */
  async saveBodies(bodies: { deliveryId: string; bodySealed: string }[]): Promise<void> {
    if (bodies.length === 0) return;
    await this.db.query(SAVE_BODIES, [bodies.map((body) => body.deliveryId), bodies.map((body) => body.bodySealed)]);
  }

  /**
   * What came of attempts, in one statement (atomic without a transaction), in the order they ended: each
   * attempt recorded; its delivery delivered, due again in `retryInSeconds`, or failed for good
   * (`retryInSeconds` null); and each endpoint's failing streak ended by a success, or started or continued by a
   * failure, which disables an endpoint failing for `disableAfterSeconds`. Answers the endpoints disabled now.
   */
  async recordOutcomes(outcomes: AttemptOutcome[], disableAfterSeconds: number): Promise<Set<string>> {
    if (outcomes.length === 0) return new Set();
    const streaks = new Map<string, { last: string; anyDelivered: boolean; lastError: string | null }>();
    for (const outcome of outcomes) {
      const streak = streaks.get(outcome.endpointId);
      streaks.set(outcome.endpointId, {
        last: outcome.delivered ? 'delivered' : 'failed',
        anyDelivered: outcome.delivered || (streak?.anyDelivered ?? false),
        lastError: outcome.delivered ? (streak?.lastError ?? null) : outcome.error,
      });
    }
    const { rows } = await this.db.query<{ endpoint_id: string; disabled: boolean }>(RECORD_OUTCOMES, [
      outcomes.map(() => randomUUID()),
      outcomes.map((outcome) => outcome.deliveryId),
      outcomes.map((outcome) => outcome.durationMs),
      outcomes.map((outcome) => (outcome.delivered ? 'delivered' : 'failed')),
      outcomes.map((outcome) => outcome.responseStatus),
      outcomes.map((outcome) => outcome.responseBody),
      outcomes.map((outcome) => outcome.error),
      outcomes.map((outcome) => outcome.retryInSeconds),
      [...streaks.keys()],
      [...streaks.values()].map((streak) => streak.last),
      [...streaks.values()].map((streak) => streak.anyDelivered),
      [...streaks.values()].map((streak) => streak.lastError),
      disableAfterSeconds,
    ]);
    return new Set(rows.filter((row) => row.disabled).map((row) => row.endpoint_id));
  }

  /** Deliveries waiting (metrics). */
  async pendingCount(): Promise<number> {
    const { rows } = await this.db.query<{ count: number }>(
      "select count(*)::int as count from webhook_deliveries where status = 'pending'",
    );
    return rows[0]?.count ?? 0;
  }
}
