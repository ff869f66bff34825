-- Intake payments (POST /api/v1/dynamic-case with nmiPaymentToken) charge before the case exists. The
-- gateway_intents row records that charge under a key derived from the intake's idempotencyKey, so a
-- retried intake reuses it instead of charging again, and attached_at tells charges that never got a
-- case (the intake transaction failed after the charge) apart for reconciliation.
alter table gateway_intents add column request_key text;
alter table gateway_intents add column result jsonb;
alter table gateway_intents add column case_id uuid references cases (id);
alter table gateway_intents add column attached_at timestamptz;

create unique index gateway_intents_organization_request_key_unique
  on gateway_intents (organization_id, request_key) where request_key is not null;
