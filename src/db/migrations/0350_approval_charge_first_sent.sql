-- When the charge of this round was first sent to the gateway. Stripe replays an idempotency key for a day only:
-- a retry after that could charge again, so the job gives such a charge to an operator instead. A charge already
-- under way counts from when its record was made, which is no later than its first send.
alter table payment_approval_charges add column first_sent_at timestamptz;

update payment_approval_charges set first_sent_at = created_at where status = 'pending' and attempts > 0;
