-- Auto-assignment (issue 21): an organization may have its new OPEN cases (and ABANDONED ones set to OPEN) assigned
-- to its licensed providers in turn, each holding at most `max_open_cases` open cases. Off by default (no row).

create table organization_auto_assignment (
  organization_id uuid primary key references organizations (id),
  enabled boolean not null default false,
  -- Open cases (ASSIGNED or IN_PROGRESS, not archived) of the organization a provider may hold before the
  -- rotation passes them by.
  max_open_cases integer not null default 10 check (max_open_cases between 1 and 10000),
  -- How many cases the rotation has assigned: each assignment takes the next turn. Locked (for update) by every
  -- auto-assignment of the organization, so concurrent intakes take their turns one at a time.
  turns integer not null default 0,
  updated_at timestamptz not null default now()
);

-- The turn at which the rotation last gave a provider a case of the organization: the next case goes to the
-- eligible provider whose last turn is oldest (never: first).
create table auto_assignment_turns (
  organization_id uuid not null references organizations (id),
  staff_id uuid not null references staff_members (id),
  last_turn integer not null,
  primary key (organization_id, staff_id)
);

-- A provider's open cases in an organization, counted against the cap at every auto-assignment.
create index cases_open_assignee_idx on cases (organization_id, assignee_staff_id)
  where assignee_staff_id is not null and status in ('ASSIGNED', 'IN_PROGRESS') and not is_archived;
