import type { Queryable } from '../../db/database.ts';
import { ApiError } from '../../http/envelopes.ts';
import { FormRepository, type FormRow, type QuestionRow } from './repository.ts';

export interface QuestionView {
  questionId: string;
  question: string;
  type: string;
  required: boolean;
  phi: boolean;
  hint: string | null;
  placeholder: string | null;
  options: string[];
}

export interface FormView {
  id: string;
  title: string;
  description: string | null;
  createdAt: string;
  updatedAt: string;
  questions: QuestionView[];
}

function questionView(row: QuestionRow): QuestionView {
  return {
    questionId: row.id,
    question: row.question,
    type: row.type,
    required: row.required,
    phi: row.phi,
    hint: row.hint,
    placeholder: row.placeholder,
    options: row.options,
  };
}

/** The forms an organization's intakes answer: read-only, scoped to the key's organization. */
export class FormService {
  constructor(private readonly db: Queryable) {}

  async list(organizationId: string, filter: { title?: string } = {}): Promise<FormView[]> {
    const repository = new FormRepository(this.db);
    const forms = await repository.list(organizationId, filter);
    const questions = await repository.activeQuestions(
      organizationId,
      forms.map((form) => form.id),
    );
    return forms.map((form) =>
      this.view(
        form,
        questions.filter((question) => question.form_id === form.id),
      ),
    );
  }

  /** A form of another organization is not found, exactly like one that does not exist. */
  async get(organizationId: string, formId: string): Promise<FormView> {
    const repository = new FormRepository(this.db);
    const form = await repository.findById(organizationId, formId);
    if (!form) throw new ApiError(404, 'Form not found');
    return this.view(form, await repository.activeQuestions(organizationId, [form.id]));
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
