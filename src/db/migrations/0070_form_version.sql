-- A form's version: 1 when created, one more each time an intake redefines it (upsertByTitle). A server keeps
-- the definitions of the forms it has seen (src/modules/forms/definition-cache.ts) and writes an intake made
-- from them only if the form is still at the version it read; otherwise it reads the form again.
alter table forms add column version integer not null default 1;
