-- The staff queue's counts per status for a member of every organization (no organization condition): each
-- status is one range of this index, read up to the count's cap, rather than a search of the
-- (organization_id, status, ...) index for it, which reads the whole index for a status no case has.
create index cases_status_idx on cases (status, is_archived, created_at, id);
