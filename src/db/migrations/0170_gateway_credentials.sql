-- An organization's own payment gateway accounts (docs/api/payments.md): a Stripe secret key, webhook secret and
-- publishable key, an NMI security key and Collect.js tokenization key. Each is sealed with the PHI key ring
-- (src/crypto/phi.ts; `phi rotate` seals it again) and never answered once set, only its last four characters.
-- An organization without its own account's key uses the server's.
create table organization_gateway_credentials (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  name text not null check (
    name in ('stripeSecretKey', 'stripeWebhookSecret', 'stripePublishableKey', 'nmiSecurityKey', 'nmiTokenizationKey')
  ),
  secret_sealed text not null,
  last4 text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (organization_id, name)
);
