-- What follows a decision besides a charge (docs/api/payments.md#charge-on-approval): a rejection releases the case's
-- holds through the same records as charge on approval, one per payment ('release', claimed and retried as a charge
-- is), and a declined approval charge is charged again once the patient's card is replaced. Each new charge of a
-- record is a new round, whose number is part of its gateway key: a round is charged at most once, and a round starts
-- only from a failed record, so two replacements of a card at once start one round.
alter table payment_approval_charges drop constraint payment_approval_charges_operation_check;
alter table payment_approval_charges add constraint payment_approval_charges_operation_check
  check (operation in ('charge', 'capture', 'release'));
alter table payment_approval_charges add column round integer not null default 1;

-- Whether an organization's rejections release holds (absent: they do). Off, holds wait for an explicit cancel.
alter table organization_payment_settings add column release_on_rejection boolean not null default true;

-- The NMI sweep (docs/operations.md#the-nmi-sweep) looks at NMI holds left PENDING by a timed-out creation.
create index case_payments_pending_holds_idx on case_payments (created_at) where hold_status = 'PENDING';
