import { randomUUID } from 'node:crypto';
import type { Database } from '../../../db/database.ts';
import { ApiError } from '../../../http/api-error.ts';
import type { Tenant } from '../../../http/gate.ts';
import { isUuid } from '../../../uuid.ts';
import { FormDefinitionCache } from '../../forms/definition-cache.ts';
import {
  definitionOf,
  FormRepository,
  type FormWithQuestions,
  type QuestionDefinition,
} from '../../forms/repository.ts';
import type { FileLimits } from '../question-types/files.ts';
import { findQuestionType } from '../question-types/registry.ts';
import type { IntakeBody, QuestionItem } from '../schemas.ts';
import { answerRequiredError, validationError } from '../validation.ts';
import { present } from './normalize.ts';
import {
  planAnswer,
  questionOptions,
  questionsByTypeAndText,
  questionText,
  questionType,
  sameDefinition,
  type PlannedAnswer,
} from './questions.ts';

/** Everything the write stores of the form, computed (and validated) before anything is written. */
export type FormPlan =
  | {
      mode: 'formTitle';
      title: string;
      description?: string;
      definitions: QuestionDefinition[];
      /** Set when the stored form already is exactly what the request defines: nothing to rewrite, no lock. */
      unchangedFormId?: string;
      /** Set when the stored form was taken from the cache: the form's version the write must still find. */
      cachedVersion?: number;
      /** The stored form's version as read (none for a new form). */
      readVersion?: number;
    }
  | { mode: 'formId'; formId: string; definitions: QuestionDefinition[]; readVersion: number };

export interface IntakePlan {
  plan: FormPlan;
  answers: PlannedAnswer[];
}

/**
 * Plans an intake's form and answers: picks the mode (formTitle wins when both are sent) and validates every
 * question and answer. Keeps the forms it reads (FormDefinitionCache), so the common intake reads none; a plan
 * from a cached form carries the version the write must still find.
 */
export class IntakePlanner {
  private readonly formCache = new FormDefinitionCache();

  constructor(
    private readonly db: Database,
    private readonly fileLimits: FileLimits,
  ) {}

  async plan(tenant: Tenant, body: IntakeBody, useCache: boolean): Promise<IntakePlan> {
    const title = present(body.formTitle);
    if (title) return this.planByTitle(tenant, title, present(body.formDescription), body.questions, useCache);
    const formId = present(body.formId);
    if (!formId) throw validationError('formTitle', 'Either formTitle or formId is required');
    if (!isUuid(formId)) throw validationError('formId', 'Must be a UUID');
    return this.planById(tenant, formId.toLowerCase(), body.questions);
  }

  /** The cached form of this title is behind the stored one: the next intake reads it again. */
  forget(tenant: Tenant, title: string): void {
    this.formCache.delete(tenant.organizationId, title);
  }

  /** A form-title plan (the intake's, and the follow-up form's): the form by its title, and the answers. */
  async planByTitle(
    tenant: Tenant,
    title: string,
    description: string | undefined,
    items: QuestionItem[],
    useCache: boolean,
  ): Promise<IntakePlan> {
    const { organizationId } = tenant;
    const cached = useCache ? this.formCache.get(organizationId, title) : undefined;
    if (cached) {
      // Taken only when the request is the cached form exactly (the common case: nothing to rewrite);
      // anything else, an error included, is planned again from the stored form.
      try {
        const planned = this.planTitleAgainst(cached, title, description, items);
        if (planned.plan.mode === 'formTitle' && planned.plan.unchangedFormId) {
          return { ...planned, plan: { ...planned.plan, cachedVersion: cached.version, readVersion: cached.version } };
        }
      } catch {
        // planned again below
      }
    }
    const found = await new FormRepository(this.db, tenant).findByTitleWithQuestions(title);
    if (found) this.formCache.set(organizationId, title, found);
    const planned = this.planTitleAgainst(found, title, description, items);
    return found ? { ...planned, plan: { ...planned.plan, readVersion: found.version } } : planned;
  }

  /** Plans a form-title intake against the stored form (null: a new form). Reads nothing. */
  private planTitleAgainst(
    found: FormWithQuestions | null,
    title: string,
    description: string | undefined,
    items: QuestionItem[],
  ): IntakePlan {
    const existing = found?.form ?? null;
    const current = found?.questions ?? [];
    const currentByKey = questionsByTypeAndText(current);

    const definitions: QuestionDefinition[] = [];
    const answers: PlannedAnswer[] = [];
    const seen = new Set<string>();
    for (const [index, item] of items.entries()) {
      const path = `questions.${index}`;
      const text = questionText(item, path);
      const type = questionType(item, path);
      if (item.required === undefined || item.required === null) throw validationError(`${path}.required`, 'Required');
      const key = `${type.name}\u0000${text}`;
      if (seen.has(key)) throw validationError(`${path}.question`, 'Duplicate question in this form');
      seen.add(key);
      const stored = currentByKey.get(key);
      const definition: QuestionDefinition = {
        // A question new to the form gets this id (it also names the question in a required-answer error).
        id: stored?.id ?? randomUUID(),
        question: text,
        type: type.name,
        required: type.takesAnswer && item.required,
        // Sticky: a question once PHI stays PHI, whatever a later request says (docs/api/intake.md, "PHI").
        phi: (item.phi ?? false) || (stored?.phi ?? false),
        hint: present(item.hint) ?? null,
        placeholder: present(item.placeholder) ?? null,
        options: questionOptions(item, type, path),
      };
      definitions.push(definition);
      const answer = planAnswer('formTitle', definition, index, type, item.answer, index, this.fileLimits);
      if (answer) answers.push(answer);
    }
    // The common case (the same storefront form again) writes nothing to the form, so intakes of one
    // form do not queue on its row lock. A concurrent change is harmless: answers keep their question rows.
    const unchanged =
      existing !== null &&
      (description === undefined || description === existing.description) &&
      current.length === definitions.length &&
      definitions.every((definition, index) => sameDefinition(definition, current[index]!));
    const unchangedFormId = unchanged ? existing.id : undefined;
    return { plan: { mode: 'formTitle', title, description, definitions, unchangedFormId }, answers };
  }

  private async planById(tenant: Tenant, formId: string, items: QuestionItem[]): Promise<IntakePlan> {
    // A form of another organization answers exactly like a form that does not exist.
    const found = await new FormRepository(this.db, tenant).findByIdWithQuestions(formId);
    if (!found) throw new ApiError(404, 'Form not found');
    const questions = new Map(found.questions.map((row) => [row.id, row]));

    const definitions: QuestionDefinition[] = [];
    const answers: PlannedAnswer[] = [];
    const answered = new Set<string>();
    for (const [index, item] of items.entries()) {
      const path = `questions.${index}.questionId`;
      const questionId = item.questionId?.trim().toLowerCase();
      if (!questionId) throw validationError(path, 'Required');
      if (!isUuid(questionId)) throw validationError(path, 'Must be a UUID');
      const row = questions.get(questionId);
      if (!row) throw validationError(path, 'Question not found in this form');
      if (answered.has(questionId)) throw validationError(path, 'Duplicate questionId');
      answered.add(questionId);
      const type = findQuestionType(row.type);
      if (!type) throw new Error(`Stored question ${row.id} has an unsupported type`);
      definitions.push(definitionOf(row));
      const answer = planAnswer('formId', definitions[index]!, index, type, item.answer, index, this.fileLimits);
      if (answer) answers.push(answer);
    }
    for (const row of questions.values()) {
      if (row.required && !answered.has(row.id) && findQuestionType(row.type)?.takesAnswer) {
        throw answerRequiredError(row.question, row.id);
      }
    }
    return { plan: { mode: 'formId', formId: found.form.id, definitions, readVersion: found.version }, answers };
  }
}
