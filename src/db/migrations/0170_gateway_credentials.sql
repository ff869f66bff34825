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

-- Refunds of a case payment, made through our API (recorded first, `pending`, then the gateway's answer) or
-- reported by Stripe's `charge.refunded` webhook. The payment's amount_refunded_cents is their sum.
create table case_payment_refunds (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  case_payment_id uuid not null references case_payments (id),
  amount_cents integer not null check (amount_cents > 0),
  status text not null check (status in ('pending', 'succeeded', 'failed')),
  -- The gateway's refund id (Stripe re_..., NMI transaction id).
  gateway_reference text,
  source text not null check (source in ('api', 'webhook')),
  idempotency_key text,
  failure_message text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create unique index case_payment_refunds_idempotency_idx on case_payment_refunds (case_payment_id, idempotency_key)
  where idempotency_key is not null;
create unique index case_payment_refunds_reference_idx on case_payment_refunds (case_payment_id, gateway_reference)
  where gateway_reference is not null;
create index case_payment_refunds_payment_idx on case_payment_refunds (case_payment_id);
