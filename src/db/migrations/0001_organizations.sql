-- Tenants and their API keys. Every table holding an organization's data carries organization_id.
create table organizations (
  id uuid primary key,
  name text not null,
  created_at timestamptz not null default now()
);

-- Keys are stored only as SHA-256 hashes; key_prefix is the recognizable, non-secret head shown in lists.
create table api_keys (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  key_hash text not null,
  key_prefix text not null,
  label text,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  constraint api_keys_key_hash_unique unique (key_hash)
);

create index api_keys_organization_idx on api_keys (organization_id);
