-- A payment taken outside this server and reported by POST /api/v1/customer-payment-confirmation
-- (source 'confirmation'): the day it was paid, the day it covers until, and the decision it pays for.
alter table case_payments add column payment_date date;
alter table case_payments add column valid_until date;
alter table case_payments add column decision_id text;
