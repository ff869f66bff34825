-- One row: a check value of the PHI encryption key (an HMAC of a fixed label under the key, which
-- reveals nothing about the key). A server whose key gives another value refuses to start, so two
-- servers on one database can never write PHI that the other cannot read.
create table phi_key_check (
  id integer primary key default 1 check (id = 1),
  check_value text not null,
  created_at timestamptz not null default now()
);
