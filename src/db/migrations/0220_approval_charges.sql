-- Charge on approval (docs/api/payments.md): a case payment still owed when a decision approves its case is
-- charged with the patient's saved payment method, or its hold captured, by a background job. One row per
-- payment (the unique index): however often the job's scan runs, in however many processes, and however often
-- a decision is recorded, a payment gets one charge record. The row is claimed (claimed_until, FOR UPDATE SKIP
-- LOCKED) by one worker at a time; a worker that dies lets go of it when the claim lapses, and the next one
-- repeats the gateway call with the same idempotency key (derived from the payment id), which charges nothing
-- twice.
create table payment_approval_charges (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  case_id uuid not null references cases (id),
  case_payment_id uuid not null references case_payments (id),
  -- The approving decision the charge follows.
  decision_id uuid not null references case_decisions (id),
  -- 'charge': a sale with a saved method; 'capture': the payment's hold, captured whole.
  operation text not null check (operation in ('charge', 'capture')),
  -- The saved method the first attempt used: every retry charges the same one, under the same key.
  saved_method_id uuid references patient_payment_methods (id),
  status text not null default 'pending' check (status in ('pending', 'succeeded', 'failed', 'skipped')),
  attempts integer not null default 0,
  claimed_until timestamptz,
  -- The gateway's payment, once an attempt learned it (read back by a retry whose outcome was not final).
  gateway_reference text,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create unique index payment_approval_charges_payment_unique on payment_approval_charges (case_payment_id);
create index payment_approval_charges_due_idx on payment_approval_charges (created_at) where status = 'pending';

-- Whether an organization's approvals charge its payments (absent: they do). Off, holds and owed payments wait
-- for an explicit capture or a new payment through the API.
create table organization_payment_settings (
  organization_id uuid primary key references organizations (id),
  charge_on_approval boolean not null default true,
  updated_at timestamptz not null default now()
);

-- The payments the job's scan looks at: those still owed.
create index case_payments_owed_idx on case_payments (case_id)
  where status = 'UNPAID' and hold_status in ('NONE', 'HELD');
