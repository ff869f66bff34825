import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../db/database.ts';
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
   * Claims up to `limit` due deliveries for `leaseSeconds`: of enabled endpoints, not claimed by a live lease,
   * and the first still pending of their case at their endpoint (ordering per case). SKIP LOCKED lets workers in
   * several processes claim side by side without waiting on each other or taking the same row.
   */
  async claim(limit: number, leaseSeconds: number): Promise<WebhookDeliveryRow[]> {
    const { rows } = await this.db.query<WebhookDeliveryRow>(
      `with due as (
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
         from due where d.id = due.id
       returning ${DELIVERY_COLUMNS.split(',')
         .map((column) => `d.${column.trim()}`)
         .join(', ')}`,
      [limit, leaseSeconds],
    );
    return rows;
  }

  async saveBody(deliveryId: string, bodySealed: string): Promise<void> {
    await this.db.query('update webhook_deliveries set body_sealed = $2 where id = $1 and body_sealed is null', [
      deliveryId,
      bodySealed,
    ]);
  }

  async endpointById(endpointId: string): Promise<WebhookEndpointRow | null> {
    const { rows } = await this.db.query<WebhookEndpointRow>(
      `select ${ENDPOINT_COLUMNS} from webhook_endpoints where id = $1`,
      [endpointId],
    );
    return rows[0] ?? null;
  }

  async recordAttempt(attempt: Omit<WebhookAttemptRow, 'id' | 'attempted_at'>): Promise<void> {
    await this.db.query(
      `insert into webhook_delivery_attempts (id, delivery_id, duration_ms, outcome, response_status, response_body,
         error) values ($1, $2, $3, $4, $5, $6, $7)`,
      [
        randomUUID(),
        attempt.delivery_id,
        attempt.duration_ms,
        attempt.outcome,
        attempt.response_status,
        attempt.response_body,
        attempt.error,
      ],
    );
  }

  async markDelivered(deliveryId: string, endpointId: string): Promise<void> {
    await this.db.query(
      `update webhook_deliveries set status = 'delivered', delivered_at = now(), locked_until = null,
         last_error = null where id = $1`,
      [deliveryId],
    );
    await this.db.query(
      'update webhook_endpoints set failing_since = null where id = $1 and failing_since is not null',
      [endpointId],
    );
  }

  /**
   * A failed attempt: the delivery waits `retryInSeconds` (null: it has tried for long enough and is failed), and
   * an endpoint whose deliveries have all failed for `disableAfterSeconds` is disabled with the reason.
   */
  async markFailed(
    delivery: { id: string; endpointId: string },
    error: string,
    retryInSeconds: number | null,
    disableAfterSeconds: number,
  ): Promise<{ endpointDisabled: boolean }> {
    await this.db.query(
      `update webhook_deliveries set
         status = case when $3::float8 is null then 'failed' else 'pending' end,
         next_attempt_at = case when $3::float8 is null then next_attempt_at
                                else now() + make_interval(secs => $3::float8) end,
         locked_until = null, last_error = $2
       where id = $1`,
      [delivery.id, error, retryInSeconds],
    );
    const { rows } = await this.db.query<{ disabled: boolean }>(
      `update webhook_endpoints set
         failing_since = coalesce(failing_since, now()),
         disabled_at = case when failing_since < now() - make_interval(secs => $3) then now() else disabled_at end,
         disabled_reason = case when failing_since < now() - make_interval(secs => $3)
           then 'Disabled after failing every delivery since ' || to_char(failing_since at time zone 'UTC',
             'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '; last error: ' || $2
           else disabled_reason end,
         updated_at = now()
       where id = $1 and disabled_at is null
       returning disabled_at is not null as disabled`,
      [delivery.endpointId, error, disableAfterSeconds],
    );
    return { endpointDisabled: rows[0]?.disabled === true };
  }

  /** Deliveries waiting (metrics). */
  async pendingCount(): Promise<number> {
    const { rows } = await this.db.query<{ count: number }>(
      "select count(*)::int as count from webhook_deliveries where status = 'pending'",
    );
    return rows[0]?.count ?? 0;
  }
}
