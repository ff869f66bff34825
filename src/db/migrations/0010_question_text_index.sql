-- Question texts may be long (a STATEMENT can be a paragraph): index a hash of the text instead of the
-- text itself, which would exceed the B-tree row limit. Same rule: one current question per text and type.
drop index questions_active_text_type_unique;
create unique index questions_active_text_hash_type_unique on questions (form_id, md5(question), type)
  where retired_at is null;
