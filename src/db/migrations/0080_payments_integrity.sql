-- Payments that hold under races. On a new database this runs right after 0004; on an existing one,
-- after the later files: it uses only tables and columns of 0003.

-- One gateway payment (a Stripe PaymentIntent, an NMI transaction) is recorded by at most one case payment.
-- Before this index, parallel intakes could record one PaymentIntent on several cases. Only the first of such
-- records stands for money taken: the later ones are kept, marked ERROR, and no longer name the gateway payment.
with recorded as (
  select id, gateway_reference,
         first_value(id) over (partition by gateway, gateway_reference order by created_at, id) as first_id
    from case_payments
   where gateway_reference is not null
)
update case_payments payment
   set status = 'ERROR',
       gateway_reference = null,
       failure_message = 'Recorded again for ' || recorded.gateway_reference || ', which payment '
         || recorded.first_id || ' records: no money was taken for this record',
       updated_at = now()
  from recorded
 where payment.id = recorded.id and recorded.id <> recorded.first_id;

drop index case_payments_gateway_reference_idx;
create unique index case_payments_gateway_reference_unique
  on case_payments (gateway, gateway_reference) where gateway_reference is not null;

-- An intake's charge (a gateway_intents row with a request_key) is worked on by one request at a time: the request
-- that inserts it, resumes it (its outcome unknown) or reuses it (charged, no case yet) claims it until
-- claimed_until. Another request with the same idempotencyKey meanwhile answers 409 (retry shortly) instead of
-- asking NMI for the same orderid, or charging, beside it. A request cut short by a crash holds it until then.
alter table gateway_intents add column claimed_until timestamptz;

-- The payment fields an intake's charge was made for (a hash): a retry with the same idempotencyKey and token but
-- other payment fields is refused (409), never matched to this charge.
alter table gateway_intents add column request_fingerprint text;

-- The promo codes whose use an intake's charge counted before it was made (a JSON array of ids): given back when
-- the charge is closed without a case (declined, or voided or refunded after its intake failed).
alter table gateway_intents add column reserved_promo_code_ids jsonb;

-- A capture or a release of a hold, in flight: claimed by the request that calls the gateway (a conditional update
-- of a HELD row), so that a hold moves through its states once. The same operation (a retry) may resume it; any
-- other waits (409) until it ends, or until hold_operation_until when its request died.
alter table case_payments add column hold_operation text check (hold_operation in ('capture', 'release'));
alter table case_payments add column hold_operation_cents integer;
alter table case_payments add column hold_operation_until timestamptz;
