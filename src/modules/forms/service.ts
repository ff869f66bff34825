import { z } from 'zod';
import type { Queryable } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import type { Tenant } from '../../http/gate.ts';
import { decodeCursor, toPage } from '../../http/pagination.ts';
import { definitionOf, FormRepository, type FormRow, type QuestionDefinition, type QuestionRow } from './repository.ts';

/** A question as the API shows it: its definition, the id named `questionId`. */
export interface QuestionView extends Omit<QuestionDefinition, 'id'> {
  questionId: string;
}

export interface FormView {
  id: string;
  title: string;
  description: string | null;
  createdAt: string;
  updatedAt: string;
  questions: QuestionView[];
}

const formCursorSchema = z.object({
  position: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/),
  id: z.uuid(),
});

/** The definition under the API's name for the id (`questionId` first, as the API shows it). */
function questionView(row: QuestionRow): QuestionView {
  const { id, ...definition } = definitionOf(row);
  return { questionId: id, ...definition };
}

/** The forms an organization's intakes answer: read-only, scoped to the key's organization. */
export class FormService {
  constructor(private readonly db: Queryable) {}

  /** One page of forms, oldest first (keyset pagination, src/http/pagination.ts). */
  async list(
    tenant: Tenant,
    query: { title?: string; limit: number; cursor?: string },
  ): Promise<{ forms: FormView[]; nextCursor: string | null }> {
    const repository = new FormRepository(this.db, tenant);
    const after = query.cursor ? decodeCursor(query.cursor, formCursorSchema) : undefined;
    const rows = await repository.list({ title: query.title, limit: query.limit + 1, after });
    const { items, nextCursor } = toPage(rows, query.limit, (row) => ({ position: row.position, id: row.id }));
    const questions = await repository.activeQuestions(items.map((form) => form.id));
    return {
      forms: items.map((form) =>
        this.view(
          form,
          questions.filter((question) => question.form_id === form.id),
        ),
      ),
      nextCursor,
    };
  }

  /** A form of another organization is not found, exactly like one that does not exist. */
  async get(tenant: Tenant, formId: string): Promise<FormView> {
    const found = await new FormRepository(this.db, tenant).findByIdWithQuestions(formId);
    if (!found) throw new ApiError(404, 'Form not found');
    return this.view(found.form, found.questions);
  }

  private view(form: FormRow, questions: QuestionRow[]): FormView {
    return {
      id: form.id,
      title: form.title,
      description: form.description,
      createdAt: form.created_at.toISOString(),
      updatedAt: form.updated_at.toISOString(),
      questions: questions.map(questionView),
    };
  }
}
