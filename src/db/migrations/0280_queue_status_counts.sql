-- The staff queue's counts per status (src/modules/staff/case-queue.ts): each status of an organization's open
-- or archived queue is one index range, read up to the count's cap, in (created_at, id) order for date ranges.
create index cases_organization_status_idx on cases (organization_id, status, is_archived, created_at, id);
