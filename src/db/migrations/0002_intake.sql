-- Case intake (POST /api/v1/dynamic-case): patients, forms and their questions, form responses, answers,
-- files and cases. Every table carries organization_id; every query filters on it.

-- One patient per email within an organization (email stored trimmed and lower-cased).
create table patients (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  email text not null,
  first_name text not null,
  last_name text not null,
  dob date,
  gender text,
  phone_number text,
  -- scrypt hash with its salt and parameters; never the password itself.
  password_hash text,
  shipping_address jsonb,
  language_preferences jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint patients_organization_email_unique unique (organization_id, email)
);

-- A form is named by its title within an organization (form-title mode reuses it).
create table forms (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  title text not null,
  description text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint forms_organization_title_unique unique (organization_id, title)
);

-- A form's questions. A question no longer sent by form-title mode is retired (retired_at set): it stays
-- for the answers that refer to it but is no longer listed or accepted in form-id mode.
create table questions (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  form_id uuid not null references forms (id),
  position integer not null,
  question text not null,
  type text not null,
  required boolean not null default false,
  phi boolean not null default false,
  hint text,
  placeholder text,
  options jsonb not null default '[]'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  retired_at timestamptz
);

create unique index questions_active_text_type_unique on questions (form_id, question, type) where retired_at is null;
create index questions_organization_form_idx on questions (organization_id, form_id);

-- The case: what care is requested for a patient. Payment fields of the intake live here; the payment
-- module records gateway rows in its own tables.
create table cases (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  patient_id uuid not null references patients (id),
  status text not null default 'OPEN',
  idempotency_key text,
  payment_amount_cents integer,
  payment_description text,
  stripe_setup_id text,
  stripe_payment_id text,
  nmi_payment_token text,
  -- No foreign key: product bundles arrive with a later migration.
  product_bundle_id uuid,
  promo_codes jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint cases_status_check check (status in ('OPEN', 'ABANDONED'))
);

-- Idempotency is enforced here, not by check-then-insert: concurrent repeats create exactly one case.
create unique index cases_organization_idempotency_key_unique on cases (organization_id, idempotency_key)
  where idempotency_key is not null;
create index cases_organization_patient_idx on cases (organization_id, patient_id);

-- One submission of a form for a case.
create table form_responses (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  case_id uuid not null references cases (id),
  form_id uuid not null references forms (id),
  patient_id uuid not null references patients (id),
  created_at timestamptz not null default now()
);

create index form_responses_organization_case_idx on form_responses (organization_id, case_id);

-- One answer per question of a form response. PHI answers keep value null and hold the AES-256-GCM
-- ciphertext of the JSON value in encrypted_value.
create table answers (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  form_response_id uuid not null references form_responses (id),
  question_id uuid not null references questions (id),
  question_type text not null,
  value jsonb,
  encrypted_value text,
  created_at timestamptz not null default now(),
  constraint answers_one_per_question unique (form_response_id, question_id),
  constraint answers_value_or_ciphertext check ((value is null) <> (encrypted_value is null))
);

create index answers_organization_response_idx on answers (organization_id, form_response_id);

-- Files attached to an answer (FILE, WIDGET_USER_ID_DOCUMENT). Inline (base64) files have their bytes in
-- file_contents; URL files are references only and are never fetched.
create table files (
  id uuid primary key,
  organization_id uuid not null references organizations (id),
  patient_id uuid not null references patients (id),
  form_response_id uuid not null references form_responses (id),
  answer_id uuid not null references answers (id),
  name text not null,
  content_type text not null,
  source text not null,
  size_bytes integer,
  sha256 text,
  url text,
  storage_key text,
  created_at timestamptz not null default now(),
  constraint files_source_check check (source in ('inline', 'url'))
);

create index files_organization_answer_idx on files (organization_id, answer_id);

-- The database file storage: the bytes of inline files, always encrypted (AES-256-GCM, PHI key).
create table file_contents (
  storage_key text primary key,
  organization_id uuid not null references organizations (id),
  content bytea not null,
  created_at timestamptz not null default now()
);
