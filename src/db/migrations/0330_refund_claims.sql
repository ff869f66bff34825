-- An NMI refund's attempt holds its pending record until this time: NMI has no idempotency key, so a retry (or the
-- NMI sweep) asks NMI's Query API for the refund, and sends it again when NMI has none, only once no earlier
-- attempt can still reach NMI.
alter table case_payment_refunds add column claimed_until timestamptz;

-- The NMI sweep's look-up of refunds left pending.
create index case_payment_refunds_pending_idx on case_payment_refunds (created_at) where status = 'pending';
