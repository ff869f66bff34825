-- The clinic's own people: staff members who review and decide cases (PROVIDER), assign and follow up
-- (SUPPORT), or administer (ADMIN), their sign-in sessions, and the case's assignee.

create table staff_members (
  id uuid primary key,
  -- Trimmed and lower-cased; one account per address across the whole server.
  email text not null,
  first_name text not null,
  last_name text not null,
  role text not null,
  -- True: works for every organization, present and future; false: the ones in staff_organizations.
  all_organizations boolean not null default false,
  title text,
  npi text,
  dea text,
  -- US state codes a PROVIDER is licensed in.
  licensed_states text[] not null default '{}',
  -- scrypt with its salt and parameters; null until the member sets one through the set-password link.
  password_hash text,
  -- The TOTP secret, sealed with the PHI key like any secret at rest; null when no second factor is set.
  totp_secret_encrypted text,
  -- The 30-second step of the last TOTP code accepted: a code is accepted once (no replay within its window).
  totp_last_step bigint,
  disabled_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint staff_members_email_unique unique (email),
  constraint staff_members_role_check check (role in ('ADMIN', 'PROVIDER', 'SUPPORT'))
);

create table staff_organizations (
  staff_id uuid not null references staff_members (id),
  organization_id uuid not null references organizations (id),
  primary key (staff_id, organization_id)
);

create index staff_organizations_organization_idx on staff_organizations (organization_id, staff_id);

-- One-time set-password links: only the SHA-256 of the token is kept.
create table staff_password_tokens (
  token_hash text primary key,
  staff_id uuid not null references staff_members (id),
  expires_at timestamptz not null,
  used_at timestamptz,
  created_at timestamptz not null default now()
);

create index staff_password_tokens_staff_idx on staff_password_tokens (staff_id);

-- Sign-in sessions: the bearer token (also the console's cookie) and the CSRF token are kept as SHA-256
-- hashes, so a copy of this table signs nobody in. Revoked by setting revoked_at (logout, disable, reset).
create table staff_sessions (
  id uuid primary key,
  token_hash text not null,
  csrf_hash text not null,
  staff_id uuid not null references staff_members (id),
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  client_address text,
  constraint staff_sessions_token_unique unique (token_hash)
);

create index staff_sessions_staff_idx on staff_sessions (staff_id);

-- Failed sign-ins per (account, client address): a guesser is slowed where it guesses from, and the real
-- member signing in from elsewhere is not. `key_hash` is the SHA-256 of the email and address.
create table staff_login_throttle (
  key_hash text primary key,
  failures integer not null default 0,
  blocked_until timestamptz,
  updated_at timestamptz not null default now()
);

-- Who works the case now (the published case shows one assignee at a time).
alter table cases add column assignee_staff_id uuid references staff_members (id);
create index cases_assignee_idx on cases (assignee_staff_id, created_at, id) where assignee_staff_id is not null;

-- Staff members change cases too; their events name them.
alter table case_events drop constraint case_events_actor_kind_check;
alter table case_events add constraint case_events_actor_kind_check
  check (actor_kind in ('api_key', 'operator', 'system', 'staff'));

-- A staff member's reads of PHI are audited with their id (null for API-key and operator requests).
alter table audit_events add column staff_id uuid;
create index audit_events_staff_idx on audit_events (staff_id, occurred_at desc, id desc) where staff_id is not null;
