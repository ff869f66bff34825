-- The saved payment method a hold was placed with. A retry that resumes a hold left pending (timeout,
-- crash) uses exactly this method: a method saved by a concurrent intake may carry an earlier created_at
-- (its transaction's start) than the payment row, so "the latest as of the row's creation" is not enough.
alter table case_payments add column saved_method_id uuid references patient_payment_methods (id);
