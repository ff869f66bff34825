-- The PHI encryption keys a database holds values under, by key id (an HMAC of a fixed label under the key,
-- which reveals nothing of it). A server refuses to start unless it has every key that is not retired, and
-- records its own current key; `phi rotate` retires a key once no value is sealed under it any more.
create table phi_keys (
  id text primary key,
  created_at timestamptz not null default now(),
  retired_at timestamptz
);

-- The key of a database from before key ids: its check value (0040_phi_key_check) begins with the key's id.
insert into phi_keys (id) select left(check_value, 16) from phi_key_check;
drop table phi_key_check;
