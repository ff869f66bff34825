import { randomInt, randomUUID } from 'node:crypto';

/** What `seedCaseClones` needs of a database: one statement at a time (a `pg.Client`, or care360's Database). */
export interface SeedTarget {
  query(text: string, params?: readonly unknown[]): Promise<unknown>;
}

export interface CloneOptions {
  /** A case made by a real intake: its patient, form response and answers are copied for every clone. */
  templateCaseId: string;
  count: number;
  /** The clones' creation times are spread evenly over [from, to). */
  from: Date;
  to: Date;
  /** Rows per statement: each table is filled by one INSERT ... SELECT over generate_series per chunk. */
  chunk?: number;
}

/** 26^8: every short id of the form AAA-AAAAA. */
const SHORT_ID_SPACE = 26 ** 8;

/**
 * Copies of one real case, written by SQL (`insert ... select ... from generate_series`) in the database,
 * not through the API: each clone has its own patient (a new email), case (a new short id, spread over the
 * time range), form response and answers, with the template's answer values and PHI ciphertexts (sealed
 * with the database's PHI key, so the clones read back like the template), then settled (vacuumed and
 * checkpointed). Returns the seconds it took.
 *
 * Ids are md5 UUIDs (version 4 digits set) of a run tag and the clone's number, so each table's rows find their parents without a
 * lookup; short ids are the clone's number (from a random offset) in base 26, unique within the run.
 */
export async function seedCaseClones(db: SeedTarget, options: CloneOptions): Promise<number> {
  const started = performance.now();
  const run = randomUUID();
  const chunk = options.chunk ?? 100_000;
  const offset = randomInt(0, SHORT_ID_SPACE - options.count - 1);
  // An md5 with the version (4) and variant (8) digits set: a valid RFC 4122 UUID, as responses' schemas require.
  const id = (kind: string, number = 'n') => {
    const hash = `md5($1::text || '${kind}' || ${number})`;
    return `(substr(${hash}, 1, 12) || '4' || substr(${hash}, 14, 3) || '8' || substr(${hash}, 18, 15))::uuid`;
  };
  const shortId = Array.from(
    { length: 8 },
    (_, digit) =>
      `chr(65 + ((($4::bigint + n) / ${26 ** (7 - digit)}::bigint) % 26)::int)${digit === 2 ? " || '-'" : ''}`,
  ).join(' || ');
  const at = `$5::timestamptz + ($6::timestamptz - $5::timestamptz) * ((n - 1)::float8 / $7::float8)`;
  for (let first = 1; first <= options.count; first += chunk) {
    const last = Math.min(options.count, first + chunk - 1);
    const params = [
      run,
      first,
      last,
      offset,
      options.from.toISOString(),
      options.to.toISOString(),
      options.count,
      options.templateCaseId,
    ];
    const series = `generate_series($2::int, $3::int) n`;
    await db.query(
      `insert into patients (id, organization_id, email, first_name, last_name, dob, gender, phone_number,
                             shipping_address, language_preferences, created_at, updated_at)
       select ${id('p')}, p.organization_id, 'clone-' || $1::text || '-' || n || '@example.com', p.first_name,
              p.last_name, p.dob, p.gender, p.phone_number, p.shipping_address, p.language_preferences, ${at}, ${at}
         from cases c join patients p on p.id = c.patient_id, ${series}
        where c.id = $8::uuid and $4::bigint >= 0`,
      params,
    );
    await db.query(
      `insert into cases (id, organization_id, patient_id, status, idempotency_key, short_id, title, type,
                          created_at, updated_at)
       select ${id('c')}, c.organization_id, ${id('p')}, c.status, 'clone-' || $1::text || '-' || n, ${shortId},
              c.title, c.type, ${at}, ${at}
         from cases c, ${series}
        where c.id = $8::uuid`,
      params,
    );
    await db.query(
      `insert into form_responses (id, organization_id, case_id, form_id, patient_id, created_at)
       select ${id('r', `fr.id::text || n`)}, fr.organization_id, ${id('c')}, fr.form_id, ${id('p')}, ${at}
         from form_responses fr, ${series}
        where fr.case_id = $8::uuid and $4::bigint >= 0`,
      params,
    );
    await db.query(
      `insert into answers (id, organization_id, form_response_id, question_id, question_type, value,
                            encrypted_value, created_at)
       select ${id('a', `a.id::text || n`)}, a.organization_id, ${id('r', `fr.id::text || n`)}, a.question_id,
              a.question_type, a.value, a.encrypted_value, ${at}
         from form_responses fr join answers a on a.form_response_id = fr.id, ${series}
        where fr.case_id = $8::uuid and $4::bigint >= 0`,
      params,
    );
  }
  // Measured as a database that has settled, not one still writing its bulk load: VACUUM sets the new rows'
  // hint bits and visibility map (else the first reads write them), and the checkpoint writes the dirty pages
  // before the measurement rather than during it.
  for (const table of ['patients', 'cases', 'form_responses', 'answers']) await db.query(`vacuum (analyze) ${table}`);
  await db.query('checkpoint');
  return (performance.now() - started) / 1000;
}
