-- Whether the refund's gateway can find it by its key after the answer is lost (NMI's Query API by orderid,
-- Stripe's refunds by the key in their metadata). The payment sweep settles only such refunds: one sent before
-- Stripe refunds carried the key cannot be told apart from one never made.
alter table case_payment_refunds add column findable_by_key boolean not null default false;

update case_payment_refunds r set findable_by_key = true
  from case_payments p
 where p.id = r.case_payment_id and p.gateway = 'nmi';
