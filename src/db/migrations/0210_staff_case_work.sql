-- The clinic's work on a case beyond assign and decide (issue 21): comments and internal notes by staff, deleted
-- comments and decisions (kept, marked deleted: a clinical record is not erased), who assigned the case.

-- The staff member who wrote a comment (null: the partner's ADD_COMMUNICATION). A staff comment with
-- is_restricted is an internal note: never shown to the partner, never sent to its webhooks.
alter table case_comments add column staff_id uuid references staff_members (id);
alter table case_comments add column deleted_at timestamptz;
alter table case_comments add column deleted_by uuid references staff_members (id);

alter table case_decisions add column deleted_at timestamptz;
alter table case_decisions add column deleted_by uuid references staff_members (id);

-- The member who made the current assignment (the published case's assignedBy).
alter table cases add column assigned_by_staff_id uuid references staff_members (id);

-- Expired throttle rows are deleted by age.
create index staff_login_throttle_updated_idx on staff_login_throttle (updated_at);

-- An organization's ADMIN can require a second factor of the staff who work for it: a member without TOTP then
-- signs in to set it up and does nothing else until it is on.
alter table organizations add column staff_totp_required boolean not null default false;
