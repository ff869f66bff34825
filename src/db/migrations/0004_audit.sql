-- The audit log of access to protected health information: who (organization, API key), did what
-- (action) to which resource, with what outcome, from where, when. Separate from the application log.
-- It holds identifiers only, never PHI itself. Rows are written by the audit plugin (src/http/audit.ts).
--
-- organization_id and api_key_id are null when the caller was not authenticated. They carry no
-- foreign key on purpose: an audit row must be writable whatever else the database holds.
-- occurred_at has millisecond precision, so a timestamp round-trips exactly through JavaScript
-- (the admin API's pagination cursor relies on that).
create table audit_events (
  id uuid primary key,
  organization_id uuid,
  api_key_id uuid,
  action text not null,
  resource_type text not null,
  resource_id text,
  outcome text not null,
  status_code integer not null,
  request_id text not null,
  client_address text,
  occurred_at timestamptz not null default date_trunc('milliseconds', now()),
  constraint audit_events_outcome_check check (outcome in ('success', 'failure'))
);

create index audit_events_occurred_idx on audit_events (occurred_at desc, id desc);
create index audit_events_organization_idx on audit_events (organization_id, occurred_at desc, id desc);
create index audit_events_resource_idx on audit_events (resource_type, resource_id);

-- Append-only: the database itself refuses to change or remove an event, whoever asks. (Retention
-- is an operator's deliberate act: a superuser disables the triggers for that maintenance.)
create function audit_events_refuse_change() returns trigger
  language plpgsql
as $$
begin
  raise exception 'audit_events is append-only: % is not allowed', tg_op
    using errcode = 'insufficient_privilege';
end;
$$;

create trigger audit_events_no_update_or_delete
  before update or delete on audit_events
  for each row execute function audit_events_refuse_change();

create trigger audit_events_no_truncate
  before truncate on audit_events
  for each statement execute function audit_events_refuse_change();
