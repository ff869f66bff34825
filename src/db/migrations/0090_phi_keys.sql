-- The PHI encryption keys a database holds values under, by key id (an HMAC of a fixed label under the key,
-- which reveals nothing of it). A server refuses to start unless it has every key that is not retired, and
-- records its own current key; `phi rotate` retires a key once no value is sealed under it any more.
-- The key of a database from before key ids (its check value in phi_key_check) is added at start-up.
create table phi_keys (
  id text primary key,
  created_at timestamptz not null default now(),
  retired_at timestamptz
);
