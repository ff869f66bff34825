-- Payments: product bundles and products, promo codes, gateway intents we created, payment methods saved
-- for patients, case payments (holds and captures), Stripe webhook events, and the simulated gateway's
-- state. Amounts are integer cents everywhere; the HTTP edge converts.

create table product_bundles (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  name text not null,
  description text,
  image_url text,
  price_cents integer not null check (price_cents >= 0),
  price_unit text not null default 'USD',
  initial_discount_cents integer not null default 0 check (initial_discount_cents >= 0),
  is_sold_out boolean not null default false,
  is_visible boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index product_bundles_organization_idx on product_bundles (organization_id, created_at);

-- An organization's product (treatment). A product may belong to one bundle.
create table products (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  product_bundle_id uuid references product_bundles (id) on delete set null,
  name text not null,
  description text,
  price_cents integer not null default 0 check (price_cents >= 0),
  price_unit text not null default 'USD',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create index products_organization_bundle_idx on products (organization_id, product_bundle_id);

-- organization_id null: a global code, valid for every organization. Codes compare case-insensitively;
-- an organization's own code shadows a global one with the same text.
create table promo_codes (
  id uuid primary key,
  organization_id uuid references organizations (id),
  code text not null,
  percent_discount numeric(5, 2) check (percent_discount > 0 and percent_discount <= 100),
  flat_discount_cents integer check (flat_discount_cents > 0),
  product_bundle_id uuid references product_bundles (id) on delete cascade,
  expires_at timestamptz,
  max_redemptions integer check (max_redemptions > 0),
  redemption_count integer not null default 0,
  disabled_at timestamptz,
  created_at timestamptz not null default now(),
  constraint promo_codes_one_discount check ((percent_discount is null) <> (flat_discount_cents is null))
);

create unique index promo_codes_scope_code_unique
  on promo_codes (coalesce(organization_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(code));

-- SetupIntents and PaymentIntents created through our API: which organization owns which gateway id.
-- The row exists before the gateway call, and its id is the idempotency key of that call.
create table gateway_intents (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  gateway text not null,
  kind text not null check (kind in ('setup', 'payment')),
  gateway_intent_id text,
  amount_cents integer,
  currency text not null default 'usd',
  status text not null default 'creating',
  customer_id text,
  payment_method_id text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create unique index gateway_intents_gateway_id_unique on gateway_intents (gateway, gateway_intent_id);
create index gateway_intents_organization_idx on gateway_intents (organization_id, created_at);

-- Payment methods saved for a patient (Stripe customer + payment method from a SetupIntent, or an NMI
-- customer vault id). The latest one is used for later holds and charges.
create table patient_payment_methods (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  patient_id uuid not null references patients (id),
  gateway text not null,
  customer_id text,
  payment_method_id text,
  source_reference text,
  created_at timestamptz not null default now()
);

create index patient_payment_methods_patient_idx on patient_payment_methods (organization_id, patient_id, created_at);

-- A payment of a case: recorded by POST /cases/:caseId/payments or by intake payment fields.
-- status is the API's payment status; hold_status follows a preauthorization from request to capture.
create table case_payments (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  case_id uuid not null references cases (id),
  product_id uuid references products (id),
  product_bundle_id uuid references product_bundles (id),
  description text,
  amount_cents integer not null check (amount_cents > 0),
  original_amount_cents integer,
  discount_cents integer not null default 0,
  promo_code_id uuid references promo_codes (id),
  currency text not null default 'usd',
  status text not null default 'UNPAID',
  source text not null default 'api',
  gateway text,
  gateway_reference text,
  hold_status text not null default 'NONE',
  amount_captured_cents integer not null default 0,
  amount_refunded_cents integer not null default 0,
  capture_before timestamptz,
  captured_at timestamptz,
  released_at timestamptz,
  failure_message text,
  idempotency_key text,
  request_fingerprint text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint case_payments_status_check
    check (status in ('PAID', 'UNPAID', 'CANCELED', 'IN_DISPUTE', 'LOST_DISPUTE', 'REFUND', 'ERROR')),
  constraint case_payments_hold_status_check
    check (hold_status in ('NONE', 'PENDING', 'HELD', 'CAPTURED', 'RELEASED', 'FAILED'))
);

create unique index case_payments_organization_idempotency_key_unique
  on case_payments (organization_id, idempotency_key) where idempotency_key is not null;
create index case_payments_organization_case_idx on case_payments (organization_id, case_id, created_at);
create index case_payments_gateway_reference_idx on case_payments (gateway, gateway_reference);
create index case_payments_holds_idx on case_payments (capture_before) where hold_status = 'HELD';

-- Stripe events already handled, by event id: a redelivered event changes nothing.
create table stripe_webhook_events (
  event_id text primary key,
  type text not null,
  case_payment_id uuid,
  outcome text not null,
  received_at timestamptz not null default now()
);

-- The simulated gateway's intents and charges (only when no STRIPE_SECRET_KEY is set).
create table simulated_gateway_objects (
  id text primary key,
  kind text not null check (kind in ('setup_intent', 'payment_intent')),
  idempotency_key text not null,
  client_secret text,
  status text not null,
  amount_cents integer,
  amount_capturable_cents integer not null default 0,
  amount_received_cents integer not null default 0,
  amount_refunded_cents integer not null default 0,
  currency text not null default 'usd',
  capture_method text,
  customer_id text,
  payment_method_id text,
  capture_before timestamptz,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint simulated_gateway_objects_idempotency_unique unique (idempotency_key)
);
