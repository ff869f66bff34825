import type { Database } from '../../src/db/database.ts';
import { Receiver, verifyCvSignature } from '../outbound-webhooks/support.ts';

/**
 * The crash run's webhook partner: one endpoint (every event) at a receiver that records each request and
 * answers 200 after a few milliseconds (so SIGKILLs find sends in flight), and the checks of what it got
 * against what the database committed.
 */
export class WebhookWitness {
  private readonly receiver = new Receiver();
  private secret = '';
  private endpoint: { base: string; adminToken: string; path: string } | undefined;
  /** Requests whose body was not valid JSON or whose signature did not verify. */
  readonly rejected: string[] = [];

  async start(): Promise<this> {
    this.receiver.handler = (_request, response, received) => {
      if (!verifyCvSignature(received.body, received.headers['x-cv-signature'], this.secret)) {
        this.rejected.push(`bad x-cv-signature on webhook-id ${String(received.headers['webhook-id'])}`);
      }
      setTimeout(() => response.end('ok'), Math.floor(Math.random() * 20));
    };
    await this.receiver.start();
    return this;
  }

  /** Subscribes the organization to every event at this receiver (the server's admin API). */
  async subscribe(base: string, adminToken: string, organizationId: string): Promise<void> {
    const response = await fetch(`${base}/admin/v1/organizations/${organizationId}/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: this.receiver.url() }),
    });
    const body = (await response.json()) as { secret?: string; webhookId?: string };
    if (response.status !== 201 || !body.secret || !body.webhookId) {
      throw new Error(`creating the webhook endpoint answered ${response.status}: ${JSON.stringify(body)}`);
    }
    this.secret = body.secret;
    this.endpoint = { base, adminToken, path: `/admin/v1/organizations/${organizationId}/webhooks/${body.webhookId}` };
  }

  /**
   * Waits (up to `ms`) until the server's queue holds no pending delivery for this endpoint (its admin API): an
   * event can arrive before a kill and stay queued, and the last server's copy of it may still be in flight when
   * every event has been seen. What is left at the deadline is reported by the invariant check.
   */
  async untilNothingPending(ms: number): Promise<void> {
    const { base, adminToken, path } = this.endpoint!;
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const response = await fetch(`${base}${path}/deliveries?status=pending&limit=1`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      if (response.ok && ((await response.json()) as { deliveries: unknown[] }).deliveries.length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The webhook-ids received (each once, in the order of their first arrival). */
  firstArrivals(): string[] {
    const seen = new Set<string>();
    for (const entry of this.receiver.received) {
      const id = entry.headers['webhook-id'];
      if (typeof id === 'string') seen.add(id);
    }
    return [...seen];
  }

  /** Waits until every one of `eventIds` has arrived, or `timeoutMs`. */
  async waitFor(eventIds: readonly string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const arrived = new Set(this.firstArrivals());
      if (eventIds.every((id) => arrived.has(id))) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  get requests(): number {
    return this.receiver.received.length;
  }

  async close(): Promise<void> {
    await this.receiver.close();
  }
}

export interface CommittedDelivery {
  event_id: string;
  case_id: string | null;
  event: string;
  sequence: number;
}

/**
 * Readies the queue for the last server: a delivery claimed by a killed process waits out its lease (three
 * times WEBHOOK_TIMEOUT_SECONDS and 30 s more) and one cut short by the graceful stop waits out its retry delay
 * (5 to 10 s); test/outbound-webhooks/restart.test.ts waits them out, this run ends them so it takes seconds.
 * Answers every delivery committed, in the order of its case.
 */
export async function endLeasesAndReadCommitted(db: Database): Promise<CommittedDelivery[]> {
  await db.query("update webhook_deliveries set locked_until = null, next_attempt_at = now() where status = 'pending'");
  const { rows } = await db.query<CommittedDelivery>(
    'select event_id, case_id, event, sequence::int as sequence from webhook_deliveries order by sequence',
  );
  return rows;
}

/**
 * Every committed event arrived (duplicates allowed, each copy with its event's webhook-id), none of a change
 * that rolled back, each signed, in order per case; every case committed has its CREATE_CASE.
 */
export async function checkWebhookInvariants(
  db: Database,
  witness: WebhookWitness,
  committed: readonly CommittedDelivery[],
  violation: (message: string) => void,
): Promise<{ eventsChecked: number; duplicates: number }> {
  for (const rejected of witness.rejected) violation(rejected);
  const arrivals = witness.firstArrivals();
  const byId = new Map(committed.map((delivery) => [delivery.event_id, delivery]));
  const arrived = new Set(arrivals);
  for (const delivery of committed) {
    if (!arrived.has(delivery.event_id)) {
      violation(`${delivery.event} ${delivery.event_id} of case ${delivery.case_id} committed but never received`);
    }
  }
  for (const id of arrivals) {
    if (!byId.has(id)) violation(`webhook-id ${id} received but no committed change wrote it`);
  }
  // Per case, the first arrival of each event in the order the events were written.
  const lastSequence = new Map<string, number>();
  for (const id of arrivals) {
    const delivery = byId.get(id);
    if (!delivery?.case_id) continue;
    const previous = lastSequence.get(delivery.case_id) ?? -1;
    if (delivery.sequence < previous)
      violation(`case ${delivery.case_id}: ${delivery.event} ${id} arrived out of order`);
    lastSequence.set(delivery.case_id, Math.max(previous, delivery.sequence));
  }
  const { rows } = await db.query<{ id: string }>(
    `select c.id from cases c where not exists (
       select 1 from webhook_deliveries d where d.case_id = c.id and d.event = 'CREATE_CASE')`,
  );
  for (const row of rows) violation(`case ${row.id} committed without its CREATE_CASE delivery`);
  const { rows: left } = await db.query<{ n: number }>(
    "select count(*)::int as n from webhook_deliveries where status <> 'delivered'",
  );
  if (left[0]!.n > 0) violation(`${left[0]!.n} deliveries not recorded as delivered after the last restart`);
  return { eventsChecked: committed.length, duplicates: witness.requests - arrivals.length };
}
