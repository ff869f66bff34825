-- Outbound webhooks: an organization's endpoints, and the deliveries of case events to them (an outbox
-- claimed with FOR UPDATE SKIP LOCKED; docs/architecture.md says why). A delivery row is written in the
-- transaction of the change it reports, so a rolled-back change publishes nothing and a committed one is
-- never lost. It holds references (case id, event id, the event's own object ids), never PHI: the payload is
-- rendered when the delivery is first attempted and kept sealed with the PHI cipher for the retries.
create table webhook_endpoints (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  url text not null,
  -- The signing secret, sealed with the PHI key ring (src/crypto/phi.ts); never returned.
  secret_sealed text not null,
  -- null: every event.
  events text[],
  document_format text not null default 'BASE64' check (document_format in ('BASE64', 'URL')),
  send_full_case_data boolean not null default false,
  disabled_at timestamptz,
  disabled_reason text,
  -- The first failed attempt since the last success; an endpoint failing for a day is disabled.
  failing_since timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index webhook_endpoints_organization_idx on webhook_endpoints (organization_id);

create table webhook_deliveries (
  id uuid primary key,
  -- The order of the events of one case to one endpoint (never read back: int8).
  sequence bigint generated always as identity,
  endpoint_id uuid not null references webhook_endpoints (id) on delete cascade,
  organization_id uuid not null references organizations (id),
  case_id uuid,
  event text not null,
  event_id uuid not null,
  -- Ids of the event's own objects (a comment's, a decision's), for the payload renderer.
  subject jsonb not null default '{}'::jsonb,
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  -- A worker's claim: no other worker takes the delivery before this time.
  locked_until timestamptz,
  -- The body as first rendered, sealed: every retry sends the same bytes.
  body_sealed text,
  created_at timestamptz not null default now(),
  delivered_at timestamptz,
  last_error text,
  constraint webhook_deliveries_event_unique unique (endpoint_id, event_id)
);

-- The worker's scan: deliveries due, oldest first.
create index webhook_deliveries_pending_idx on webhook_deliveries (next_attempt_at) where status = 'pending';
-- The earlier events of a case still waiting (ordering per case).
create index webhook_deliveries_case_idx on webhook_deliveries (endpoint_id, case_id, sequence)
  where status = 'pending';
create index webhook_deliveries_endpoint_idx on webhook_deliveries (endpoint_id, created_at);

create table webhook_delivery_attempts (
  id uuid primary key,
  delivery_id uuid not null references webhook_deliveries (id) on delete cascade,
  attempted_at timestamptz not null default now(),
  duration_ms integer not null,
  outcome text not null check (outcome in ('delivered', 'failed')),
  response_status integer,
  -- The first 1 KB of the response body, as text.
  response_body text,
  error text
);

create index webhook_delivery_attempts_delivery_idx on webhook_delivery_attempts (delivery_id, attempted_at);
