-- The case after intake: its full status set, an archive flag orthogonal to the status, a short id people
-- can read out, and the records a case gathers (events, comments, attachments, decisions).
--
-- Case products (one case, several treatments) arrive later as their own table referencing cases; decisions,
-- comments and events already carry a nullable case_product_id so that they can name one without a rewrite.

alter table cases add column short_id text;
alter table cases add column title text;
alter table cases add column type text;
alter table cases add column is_archived boolean not null default false;
alter table cases add column archive_reason text;
alter table cases add column archive_note text;
alter table cases add column closed_at timestamptz;
-- Not a uuid: the published case detail shows Firebase-style ids here.
alter table cases add column closed_by text;
alter table cases add column assigned_at timestamptz;
alter table cases add column in_progress_at timestamptz;
alter table cases add column is_escalated boolean not null default false;
-- Raised by every change of the case row: a change is written only if the version is still the one read.
alter table cases add column version integer not null default 1;

alter table cases drop constraint cases_status_check;
alter table cases add constraint cases_status_check
  check (status in ('OPEN', 'ASSIGNED', 'IN_PROGRESS', 'APPROVED', 'REJECTED', 'NO_DECISION', 'ABANDONED'));
alter table cases add constraint cases_archive_reason_check
  check (archive_reason is null or archive_reason in ('COMPLETE', 'INELIGIBLE'));
alter table cases add constraint cases_short_id_format check (short_id ~ '^[A-Z]{3}-[A-Z]{5}$');

create unique index cases_organization_short_id_unique on cases (organization_id, short_id);

-- A fresh short id: three letters, a dash, five letters. The server draws its own (src/modules/cases/lifecycle/
-- short-id.ts) and retries on a collision; this default serves rows written by other means (bulk loads).
create function new_case_short_id() returns text
  language sql
  volatile
as $$
  select substr(letters, 1, 3) || '-' || substr(letters, 4, 5)
    from (select string_agg(chr(65 + floor(random() * 26)::integer), '') as letters from generate_series(1, 8)) drawn
$$;

-- Existing cases get one, drawn again on the rare collision within their organization.
do $$
declare
  existing record;
begin
  for existing in select id from cases where short_id is null loop
    loop
      begin
        update cases set short_id = new_case_short_id() where id = existing.id;
        exit;
      exception when unique_violation then
        -- drawn before in this organization: draw again
      end;
    end loop;
  end loop;
end;
$$;

alter table cases alter column short_id set default new_case_short_id();
alter table cases alter column short_id set not null;

-- The case list: a date range of one organization in (created_at, id) order, one index range per page.
create index cases_organization_created_idx on cases (organization_id, created_at, id);
-- The latest case of a patient (customer-latest-case-id).
create index cases_organization_patient_created_idx on cases (organization_id, patient_id, created_at desc, id desc);

-- Every change to a case, written in the same transaction as the change: who (actor), what (type), the
-- case's fields before and after (identifiers and states only, never PHI), when. seq orders the events of
-- the whole database as they were written, for the outbound webhooks that will publish them.
create table case_events (
  id uuid primary key,
  seq bigint generated always as identity,
  organization_id uuid not null references organizations (id),
  case_id uuid not null references cases (id),
  case_product_id uuid,
  actor_kind text not null,
  actor_id text,
  type text not null,
  before jsonb,
  after jsonb,
  created_at timestamptz not null default now(),
  constraint case_events_actor_kind_check check (actor_kind in ('api_key', 'operator', 'system'))
);

create index case_events_organization_case_idx on case_events (organization_id, case_id, seq);

-- Comments on a case (ADD_COMMUNICATION). The text is PHI-sealed like a PHI answer (encrypted_text).
create table case_comments (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  case_id uuid not null references cases (id),
  case_product_id uuid,
  encrypted_text text not null,
  is_restricted boolean not null default false,
  webhook_notify boolean not null default true,
  author jsonb,
  created_at timestamptz not null default now()
);

create index case_comments_organization_case_idx on case_comments (organization_id, case_id, created_at, id);

-- Files of a case (on the case itself or on one of its comments); the bytes go to the file storage, sealed
-- like intake files (file_contents through storage_key).
create table case_attachments (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  case_id uuid not null references cases (id),
  comment_id uuid references case_comments (id),
  file_name text not null,
  content_type text not null,
  size_bytes integer not null,
  sha256 text not null,
  storage_key text not null,
  is_phi boolean not null default false,
  is_restricted boolean not null default false,
  is_deleted boolean not null default false,
  uploaded_by jsonb,
  created_at timestamptz not null default now()
);

create index case_attachments_organization_case_idx on case_attachments (organization_id, case_id, created_at, id);

-- A provider's decision on a case (or, later, on one case product of it).
create table case_decisions (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  case_id uuid not null references cases (id),
  case_product_id uuid,
  is_approved boolean not null default false,
  is_no_decision boolean not null default false,
  decision_text text,
  category text,
  visit_type text,
  start_date date,
  end_date date,
  -- [{id, medicine, dosage, refillCount, pharmacyInstructions, dosingFrequency}]
  med_info jsonb not null default '[]'::jsonb,
  added_by jsonb,
  created_at timestamptz not null default now(),
  constraint case_decisions_visit_type_check check (
    visit_type is null
    or visit_type in ('NO_SHOW', 'ASYNC_TEXT_EMAIL', 'SYNC_VIDEO', 'SYNC_PHONE', 'SYNC_IN_PERSON', 'ORDER_FORM')
  )
);

create index case_decisions_organization_case_idx on case_decisions (organization_id, case_id, created_at, id);

-- Intake files of a case are found through its form responses.
create index files_organization_form_response_idx on files (organization_id, form_response_id);
