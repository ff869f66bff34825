import { randomUUID } from 'node:crypto';
import { prepared, type Queryable } from '../../db/database.ts';
import type { Tenant } from '../../http/gate.ts';

export interface FormRow {
  id: string;
  title: string;
  description: string | null;
  created_at: Date;
  updated_at: Date;
}

/** A question as a form-title request defines it. */
export interface QuestionDefinition {
  id: string;
  question: string;
  type: string;
  required: boolean;
  phi: boolean;
  hint: string | null;
  placeholder: string | null;
  options: string[];
}

/** A stored question: its definition, in its form at its position. */
export interface QuestionRow extends QuestionDefinition {
  form_id: string;
  position: number;
}

/** A stored question's definition, its fields in the definition's order. */
export function definitionOf(row: QuestionRow): QuestionDefinition {
  return {
    id: row.id,
    question: row.question,
    type: row.type,
    required: row.required,
    phi: row.phi,
    hint: row.hint,
    placeholder: row.placeholder,
    options: row.options,
  };
}

const QUESTION_COLUMN_NAMES = [
  'id',
  'form_id',
  'position',
  'question',
  'type',
  'required',
  'phi',
  'hint',
  'placeholder',
  'options',
] as const satisfies readonly (keyof QuestionRow)[];
const QUESTION_COLUMNS = QUESTION_COLUMN_NAMES.join(', ');

/** The question columns a form-and-questions row carries, prefixed `q_` (its form id is the form's). */
type JoinedQuestionColumn = Exclude<(typeof QUESTION_COLUMN_NAMES)[number], 'form_id'>;
const PREFIXED_QUESTION_COLUMNS = QUESTION_COLUMN_NAMES.filter(
  (column): column is JoinedQuestionColumn => column !== 'form_id',
)
  .map((column) => `q.${column} as q_${column}`)
  .join(', ');

/** A form and its current questions: one row per question (one with null question columns for none). */
const formWithQuestions = (condition: string) =>
  prepared(`select f.id, f.title, f.description, f.created_at, f.updated_at, f.version, ${PREFIXED_QUESTION_COLUMNS}
              from forms f
              left join questions q
                on q.organization_id = f.organization_id and q.form_id = f.id and q.retired_at is null
             where f.organization_id = $1 and ${condition}
             order by q.position, q.created_at, q.id`);
/** Every intake runs one of them. */
const FORM_WITH_QUESTIONS_BY_TITLE = formWithQuestions('f.title = $2');
const FORM_WITH_QUESTIONS_BY_ID = formWithQuestions('f.id = $2');

/** A form and its current questions, in form order, as of `version` (forms.version). */
export interface FormWithQuestions {
  form: FormRow;
  questions: QuestionRow[];
  version: number;
}

/** The question columns of a form-and-questions row: null when the form has no current question. */
type PrefixedQuestionColumns = { [Column in JoinedQuestionColumn as `q_${Column}`]: QuestionRow[Column] | null };

/** Forms and their questions of one organization: every statement adds its condition. */
export class FormRepository {
  private readonly organizationId: string;

  constructor(
    private readonly db: Queryable,
    tenant: Tenant,
  ) {
    this.organizationId = tenant.organizationId;
  }

  /** The form with this title and its current questions (in form order), in one round trip. */
  async findByTitleWithQuestions(title: string): Promise<FormWithQuestions | null> {
    return this.findWithQuestions(FORM_WITH_QUESTIONS_BY_TITLE, [this.organizationId, title]);
  }

  /** The form with this id and its current questions (in form order), in one round trip. */
  async findByIdWithQuestions(formId: string): Promise<FormWithQuestions | null> {
    return this.findWithQuestions(FORM_WITH_QUESTIONS_BY_ID, [this.organizationId, formId]);
  }

  private async findWithQuestions(statement: string, params: unknown[]): Promise<FormWithQuestions | null> {
    const { rows } = await this.db.query<FormRow & { version: number } & PrefixedQuestionColumns>(statement, params);
    const first = rows[0];
    if (!first) return null;
    const form: FormRow = {
      id: first.id,
      title: first.title,
      description: first.description,
      created_at: first.created_at,
      updated_at: first.updated_at,
    };
    const questions = rows
      .filter((row) => row.q_id !== null)
      .map((row): QuestionRow => ({
        id: row.q_id!,
        form_id: row.id,
        position: row.q_position!,
        question: row.q_question!,
        type: row.q_type!,
        required: row.q_required!,
        phi: row.q_phi!,
        hint: row.q_hint,
        placeholder: row.q_placeholder,
        options: row.q_options!,
      }));
    return { form, questions, version: first.version };
  }

  /**
   * Forms oldest first, at most `limit`, after the keyset position `after` (`position` is created_at
   * with microseconds, as text, so that positions compare exactly).
   */
  async list(page: {
    title?: string;
    limit: number;
    after?: { position: string; id: string };
  }): Promise<(FormRow & { position: string })[]> {
    const { rows } = await this.db.query<FormRow & { position: string }>(
      `select id, title, description, created_at, updated_at,
              to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as position
         from forms
        where organization_id = $1 and ($2::text is null or title = $2)
          and ($3::timestamptz is null or (created_at, id) > ($3::timestamptz, $4::uuid))
        order by created_at, id
        limit $5`,
      [this.organizationId, page.title ?? null, page.after?.position ?? null, page.after?.id ?? null, page.limit],
    );
    return rows;
  }

  /** The current (not retired) questions of forms, in form order. */
  async activeQuestions(formIds: readonly string[]): Promise<QuestionRow[]> {
    if (formIds.length === 0) return [];
    const { rows } = await this.db.query<QuestionRow>(
      `select ${QUESTION_COLUMNS} from questions
        where organization_id = $1 and retired_at is null
          and form_id = any(string_to_array($2, ',')::uuid[])
        order by form_id, position, created_at, id`,
      // Ids are UUIDs (no commas); a text parameter works the same on PGlite and pg, and = any() is an index condition.
      [this.organizationId, formIds.join(',')],
    );
    return rows;
  }

  /**
   * Creates the form with this title or takes the existing one (its description is updated when one is
   * sent). Locks the form row until the transaction ends, so intakes evolving one form run one at a time.
   */
  async upsertByTitle(title: string, description: string | undefined): Promise<string> {
    const { rows } = await this.db.query<{ id: string }>(
      `insert into forms (id, organization_id, title, description) values ($1, $2, $3, $4)
       on conflict (organization_id, title) do update set
         description = coalesce(excluded.description, forms.description),
         version = forms.version + 1,
         updated_at = now()
       returning id`,
      [randomUUID(), this.organizationId, title, description ?? null],
    );
    return rows[0]!.id;
  }

  /**
   * Makes the form's current questions exactly `definitions`, in that order: a question with the same
   * text and type keeps its id and takes the new definition; a new one is added; a current question not
   * in the list is retired. Returns the stored id of each definition, in order. `phi` is sticky: a question
   * once PHI stays PHI, also when it was retired and is sent again (docs/api/intake.md, "PHI").
   */
  async replaceQuestions(formId: string, definitions: readonly QuestionDefinition[]): Promise<string[]> {
    const ids: string[] = [];
    for (const [position, definition] of definitions.entries()) {
      const { rows } = await this.db.query<{ id: string }>(
        `insert into questions (id, organization_id, form_id, position, question, type, required, phi, hint,
                                placeholder, options)
         values ($1, $2, $3, $4, $5, $6, $7,
                 $8 or exists (select 1 from questions retired
                                where retired.organization_id = $2 and retired.form_id = $3 and retired.type = $6
                                  and retired.question = $5 and retired.phi),
                 $9, $10, $11::jsonb)
         on conflict (form_id, md5(question), type) where retired_at is null do update set
           position = excluded.position,
           required = excluded.required,
           phi = questions.phi or excluded.phi,
           hint = excluded.hint,
           placeholder = excluded.placeholder,
           options = excluded.options,
           updated_at = now()
         returning id`,
        [
          definition.id,
          this.organizationId,
          formId,
          position,
          definition.question,
          definition.type,
          definition.required,
          definition.phi,
          definition.hint,
          definition.placeholder,
          JSON.stringify(definition.options),
        ],
      );
      ids.push(rows[0]!.id);
    }
    await this.db.query(
      `update questions set retired_at = now()
        where organization_id = $1 and form_id = $2 and retired_at is null
          and id not in (select (jsonb_array_elements_text($3::jsonb))::uuid)`,
      [this.organizationId, formId, JSON.stringify(ids)],
    );
    return ids;
  }
}
