import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import { unstorableText } from '../../db/text.ts';
import { isUuid } from '../../uuid.ts';
import { hashPassword } from '../../crypto/password.ts';
import type { PhiCipher } from '../../crypto/phi.ts';
import { ApiError, IdempotencyConflictError } from '../../http/api-error.ts';
import type { FileLimits } from '../files/incoming.ts';
import { FileRepository } from '../files/repository.ts';
import type { FileStorage } from '../files/storage.ts';
import { FormDefinitionCache } from '../forms/definition-cache.ts';
import {
  FormRepository,
  type FormWithQuestions,
  type QuestionDefinition,
  type QuestionRow,
} from '../forms/repository.ts';
import type { Scope, Tenant } from '../../http/gate.ts';
import type { PatientProfile } from '../patients/repository.ts';
import {
  hasPaymentFields,
  paymentFieldsOf,
  shapeOnlyPaymentProcessor,
  type IntakePaymentFields,
  type IntakePaymentProcessor,
} from './intake-payments.ts';
import { findQuestionType, questionTypeNames } from './question-types/registry.ts';
import type { IntakeMode, ParsedAnswer, QuestionType } from './question-types/types.ts';
import { CaseRepository, IDEMPOTENCY_INDEX } from './repository.ts';
import { newShortId, SHORT_ID_ATTEMPTS, SHORT_ID_INDEX } from './lifecycle/short-id.ts';
import { intakeBodySchema, questionItemSchema, type IntakeBody, type QuestionItem } from './schemas.ts';
import { answerRequiredError, quote, validationError } from './validation.ts';

export interface IntakeResult {
  caseId: string;
  formResponseId: string;
  paymentId?: string;
}

export interface IntakeDependencies {
  db: Database;
  cipher: PhiCipher;
  fileStorage: FileStorage;
  fileLimits: FileLimits;
  payments?: IntakePaymentProcessor;
}

/** Who is calling, as the intake asks it (the gate's `Scope`). */
export type IntakeCaller = Pick<Scope, 'tenant' | 'apiKeyId' | 'keyToCheckInWrite' | 'confirmKey'>;

/** A validated answer, ready to be written. `definitionIndex` points into the plan's definitions. */
interface PlannedAnswer {
  definitionIndex: number;
  type: QuestionType;
  phi: boolean;
  parsed: ParsedAnswer;
}

/** Everything the transaction writes, computed (and validated) before it opens. */
type FormPlan =
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

/** The intake was planned from a cached form that has changed since: nothing was written. */
class StaleFormError extends Error {
  constructor(readonly title: string) {
    super('The form changed since it was read');
  }
}

const MAX_QUESTION_LENGTH = 10_000;

/** "No answer": absent, null, a blank string or an empty array. */
function isBlank(answer: unknown): boolean {
  return (
    answer === undefined ||
    answer === null ||
    (typeof answer === 'string' && answer.trim() === '') ||
    (Array.isArray(answer) && answer.length === 0)
  );
}

/** The weight rule of seed 003: text contains "weigh" and neither "goal" nor "initiative" (any case). */
export function isWeightQuestion(text: string): boolean {
  const lower = text.toLowerCase();
  return lower.includes('weigh') && !lower.includes('goal') && !lower.includes('initiative');
}

const present = (value: string | null | undefined): string | undefined =>
  value === null || value === undefined || value.trim() === '' ? undefined : value.trim();

/**
 * POST /api/v1/dynamic-case: validates a whole intake, then writes the patient, the form and its
 * questions, the case, the form response, the answers, the files and the payment atomically: in one
 * statement when that is all there is to write (a known form, no files, no payment), else in ONE
 * transaction.
 */
export class IntakeService {
  private readonly payments: IntakePaymentProcessor;
  private readonly formCache = new FormDefinitionCache();

  constructor(private readonly deps: IntakeDependencies) {
    this.payments = deps.payments ?? shapeOnlyPaymentProcessor;
  }

  /**
   * A key the gate took from memory (keyConfirmedByWrite) is checked by the intake's own statement; with
   * payment fields, before the first gateway call instead.
   */
  async createCase(caller: IntakeCaller, body: IntakeBody): Promise<IntakeResult> {
    rejectNulCharacters(body);
    const { organizationId } = caller.tenant;
    // A form read from the cache may have changed since (another process): the write then finds it at
    // another version and writes nothing, and the intake is planned again from the stored form. Not with
    // payment fields: their gateway calls must not run twice, so those intakes always read the form.
    const payment = paymentFieldsOf(body);
    const useCache = !hasPaymentFields(payment);
    try {
      return await this.createCaseOnce(caller, body, payment, useCache);
    } catch (error) {
      if (!(error instanceof StaleFormError)) throw error;
      this.formCache.delete(organizationId, error.title);
      return this.createCaseOnce(caller, body, payment, false);
    }
  }

  private async createCaseOnce(
    caller: IntakeCaller,
    body: IntakeBody,
    payment: IntakePaymentFields,
    useCache: boolean,
  ): Promise<IntakeResult> {
    const { tenant } = caller;
    const { organizationId } = tenant;
    const profile = this.profileOf(body);
    const status = (present(body.status)?.toUpperCase() ?? 'OPEN') as 'OPEN' | 'ABANDONED';
    const idempotencyKey = body.idempotencyKey ? body.idempotencyKey : undefined;

    const { plan, answers } = await this.plan(tenant, body, useCache);
    this.checkWeightRule(plan);
    this.checkTotalFileSize(answers);

    // The write checks an unconfirmed key; payment calls come before it, so the key is confirmed first.
    const paying = hasPaymentFields(payment);
    let confirmApiKeyId = caller.keyToCheckInWrite;
    if (confirmApiKeyId && paying) {
      if (!(await caller.confirmKey())) throw new ApiError(401, 'Invalid request');
      confirmApiKeyId = undefined;
    }

    // A repeat is answered before any payment call; the unique index settles concurrent repeats, and
    // answers a repeat without payment fields by itself (the write below then fails and writes nothing).
    if (idempotencyKey && paying) {
      if (await new CaseRepository(this.deps.db, tenant).idempotencyKeyUsed(idempotencyKey)) {
        throw new IdempotencyConflictError();
      }
    }

    // Done before any payment is prepared: a failure here costs no charge.
    if (body.password) profile.passwordHash = await hashPassword(body.password);
    // In turn, not with Promise.all: sealing is synchronous work, only a PHI answer awaits (its key, once).
    const sealed: { value: string | null; encryptedValue: string | null }[] = [];
    for (const answer of answers) sealed.push(await this.seal(answer, answer.phi));
    // Without payment fields there is nothing to prepare (a processor would resolve to undefined).
    const prepared = paying
      ? await this.payments.prepare({ tenant, idempotencyKey, payment, patientEmail: profile.email })
      : undefined;
    const caseId = randomUUID();
    let shortId = newShortId();
    const formResponseId = randomUUID();
    const answerIds = answers.map(() => randomUUID());
    // The form-title plan whose form this intake (re)defines, if it does.
    const formToWrite = plan.mode === 'formTitle' && !plan.unchangedFormId ? plan : undefined;
    const hasFiles = answers.some((answer) => (answer.parsed.files?.length ?? 0) > 0);

    const write = async (db: Queryable): Promise<IntakeResult> => {
      let formId: string;
      let questionIds: string[];
      if (formToWrite) {
        // Locks the form row first: intakes that change one form run one at a time. Intakes that only
        // use it take a key-share lock (their form response's foreign key), which this lock allows.
        const forms = new FormRepository(db, tenant);
        formId = await forms.upsertByTitle(formToWrite.title, formToWrite.description);
        questionIds = await forms.replaceQuestions(formId, formToWrite.definitions);
      } else {
        formId = plan.mode === 'formTitle' ? plan.unchangedFormId! : plan.formId;
        questionIds = plan.definitions.map((definition) => definition.id);
      }

      const insert = () =>
        new CaseRepository(db, tenant).insertIntake({
          newPatientId: randomUUID(),
          patient: profile,
          caseId,
          shortId,
          apiKeyId: caller.apiKeyId,
          status,
          idempotencyKey,
          payment,
          formResponseId,
          formId,
          expectedFormVersion: plan.mode === 'formTitle' ? plan.cachedVersion : undefined,
          readFormVersion: plan.readVersion,
          confirmApiKeyId,
          answers: answers.map((answer, index) => ({
            id: answerIds[index]!,
            questionId: questionIds[answer.definitionIndex]!,
            questionType: answer.type.name,
            ...sealed[index]!,
          })),
        });
      let written = await insert();
      // A question became PHI after this intake read the form (phi is sticky): its answer is sealed, and the
      // intake written again. Each round seals at least one more answer, so this ends.
      while (written && 'becamePhi' in written) {
        const nowPhi = new Set(written.becamePhi);
        for (const [index, answer] of answers.entries()) {
          if (nowPhi.has(questionIds[answer.definitionIndex]!)) sealed[index] = await this.seal(answer, true);
        }
        written = await insert();
      }
      if (!written) throw new StaleFormError(plan.mode === 'formTitle' ? plan.title : '');
      // Revoked since it was last read: nothing was written (a transaction rolls back what came before).
      if ('keyRevoked' in written) throw new ApiError(401, 'Invalid request');
      const { patientId } = written;

      const files = new FileRepository(db, tenant);
      for (const [index, answer] of answers.entries()) {
        for (const file of answer.parsed.files ?? []) {
          const storageKey =
            file.kind === 'inline'
              ? (await this.deps.fileStorage.put(db, { tenant, fileId: file.fileId, content: file.content })).storageKey
              : null;
          await files.insert(file, { patientId, formResponseId, answerId: answerIds[index]! }, storageKey);
        }
      }

      if (prepared === undefined) return { caseId, formResponseId };
      const { paymentId } = await this.payments.record(db, { tenant, caseId, patientId, prepared });
      return paymentId ? { caseId, formResponseId, paymentId } : { caseId, formResponseId };
    };

    try {
      // The common intake (a known form, no file, nothing to pay) is one statement, atomic by itself;
      // anything more is written in one transaction with it.
      const writeOnce = () =>
        formToWrite || hasFiles || prepared !== undefined ? this.deps.db.transaction(write) : write(this.deps.db);
      let result: IntakeResult | undefined;
      for (let attempt = 1; result === undefined; attempt += 1) {
        try {
          result = await writeOnce();
        } catch (error) {
          // Another case of the organization has this short id: nothing was written; draw another.
          if (attempt >= SHORT_ID_ATTEMPTS || !isUniqueViolation(error, SHORT_ID_INDEX)) throw error;
          shortId = newShortId();
        }
      }
      // The cached definition is now behind the stored form: the next intake reads it again.
      if (formToWrite) this.formCache.delete(organizationId, formToWrite.title);
      return result;
    } catch (error) {
      // The case was not written: undo what `prepare` did for it (a charge, a promo code's use).
      if (prepared !== undefined) await this.payments.abandon?.({ tenant, caseId, prepared });
      if (isUniqueViolation(error, IDEMPOTENCY_INDEX)) throw new IdempotencyConflictError();
      throw error;
    }
  }

  /** An answer as stored: its JSON in plaintext, or (PHI) its ciphertext. */
  private async seal(
    answer: PlannedAnswer,
    phi: boolean,
  ): Promise<{ value: string | null; encryptedValue: string | null }> {
    const json = JSON.stringify(answer.parsed.value);
    return phi
      ? { value: null, encryptedValue: await this.deps.cipher.encryptText(json) }
      : { value: json, encryptedValue: null };
  }

  private profileOf(body: IntakeBody): PatientProfile {
    const address = body.shippingAddress;
    return {
      email: body.email.trim().toLowerCase(),
      firstName: body.firstName.trim(),
      lastName: body.lastName.trim(),
      dob: present(body.dob),
      gender: present(body.gender)?.toUpperCase() as PatientProfile['gender'],
      phoneNumber: present(body.phoneNumber),
      shippingAddress: address
        ? {
            addressLine1: address.addressLine1.trim(),
            ...(present(address.addressLine2) ? { addressLine2: present(address.addressLine2) } : {}),
            city: address.city.trim(),
            state: address.state.trim().toUpperCase(),
            country: address.country.trim().toUpperCase(),
            postalCode: address.postalCode.trim(),
          }
        : undefined,
      languagePreferences: body.languagePreferences?.length
        ? [...new Set(body.languagePreferences.map((code) => code.toLowerCase()))]
        : undefined,
    };
  }

  /** Picks the mode (formTitle wins when both are sent) and validates every question and answer. */
  private async plan(
    tenant: Tenant,
    body: IntakeBody,
    useCache: boolean,
  ): Promise<{ plan: FormPlan; answers: PlannedAnswer[] }> {
    const title = present(body.formTitle);
    if (title) return this.planByTitle(tenant, title, present(body.formDescription), body.questions, useCache);
    const formId = present(body.formId);
    if (!formId) throw validationError('formTitle', 'Either formTitle or formId is required');
    if (!isUuid(formId)) throw validationError('formId', 'Must be a UUID');
    return this.planById(tenant, formId.toLowerCase(), body.questions);
  }

  private async planByTitle(
    tenant: Tenant,
    title: string,
    description: string | undefined,
    items: QuestionItem[],
    useCache: boolean,
  ): Promise<{ plan: FormPlan; answers: PlannedAnswer[] }> {
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
    const found = await new FormRepository(this.deps.db, tenant).findByTitleWithQuestions(title);
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
  ): { plan: FormPlan; answers: PlannedAnswer[] } {
    const existing = found?.form ?? null;
    const current = found?.questions ?? [];
    const currentByKey = questionsByTypeAndText(current);

    const definitions: QuestionDefinition[] = [];
    const answers: PlannedAnswer[] = [];
    const seen = new Set<string>();
    for (const [index, item] of items.entries()) {
      const path = `questions.${index}`;
      const text = this.questionText(item, path);
      const type = this.questionType(item, path);
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
        options: this.questionOptions(item, type, path),
      };
      definitions.push(definition);
      const answer = this.planAnswer('formTitle', definition, definitions.length - 1, type, item.answer, index);
      if (answer) answers.push(answer);
    }
    // The common case (the same storefront form again) writes nothing to the form, so intakes of one
    // form do not queue on its row lock. A concurrent change is harmless: answers keep their question rows.
    const unchanged =
      existing !== null &&
      (description === undefined || description === existing.description) &&
      current.length === definitions.length &&
      definitions.every((definition, index) => sameDefinition(definition, current[index]!));
    return {
      plan: {
        mode: 'formTitle',
        title,
        description,
        definitions,
        unchangedFormId: unchanged ? existing.id : undefined,
      },
      answers,
    };
  }

  private async planById(
    tenant: Tenant,
    formId: string,
    items: QuestionItem[],
  ): Promise<{ plan: FormPlan; answers: PlannedAnswer[] }> {
    // A form of another organization answers exactly like a form that does not exist.
    const found = await new FormRepository(this.deps.db, tenant).findByIdWithQuestions(formId);
    if (!found) throw new ApiError(404, 'Form not found');
    const { form } = found;
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
      const definition = definitionOf(row);
      definitions.push(definition);
      const answer = this.planAnswer('formId', definition, definitions.length - 1, type, item.answer, index);
      if (answer) answers.push(answer);
    }
    for (const row of questions.values()) {
      if (row.required && !answered.has(row.id) && findQuestionType(row.type)?.takesAnswer) {
        throw answerRequiredError(row.question, row.id);
      }
    }
    return { plan: { mode: 'formId', formId: form.id, definitions, readVersion: found.version }, answers };
  }

  private planAnswer(
    mode: IntakeMode,
    definition: QuestionDefinition,
    definitionIndex: number,
    type: QuestionType,
    answer: unknown,
    index: number,
  ): PlannedAnswer | undefined {
    if (!type.takesAnswer) return undefined;
    if (isBlank(answer)) {
      if (definition.required) throw answerRequiredError(definition.question, definition.id);
      return undefined;
    }
    const parsed = type.parse(answer, {
      mode,
      options: definition.options,
      path: `questions.${index}.answer`,
      fileLimits: this.deps.fileLimits,
    });
    return { definitionIndex, type, phi: definition.phi, parsed };
  }

  private questionText(item: QuestionItem, path: string): string {
    if (item.question === undefined || item.question === null) throw validationError(`${path}.question`, 'Required');
    const text = item.question.trim();
    if (text === '') throw validationError(`${path}.question`, 'Must not be empty');
    if (text.length > MAX_QUESTION_LENGTH) {
      throw validationError(`${path}.question`, `Must be at most ${MAX_QUESTION_LENGTH} characters`);
    }
    return text;
  }

  private questionType(item: QuestionItem, path: string): QuestionType {
    if (item.type === undefined || item.type === null) throw validationError(`${path}.type`, 'Required');
    const type = findQuestionType(item.type);
    if (!type) {
      throw validationError(
        `${path}.type`,
        `Unknown question type ${quote(item.type)}; expected one of ${questionTypeNames.join(', ')}`,
      );
    }
    return type;
  }

  private questionOptions(item: QuestionItem, type: QuestionType, path: string): string[] {
    if (!type.needsOptions) return [];
    const options = [...new Set((item.options ?? []).map((option) => option.trim()))];
    if (options.length === 0) throw validationError(`${path}.options`, `Required for ${type.name} questions`);
    if (options.includes('')) throw validationError(`${path}.options`, 'Options must not be empty');
    return options;
  }

  private checkWeightRule(plan: FormPlan): void {
    if (!plan.definitions.some((definition) => isWeightQuestion(definition.question))) {
      throw validationError(
        'questions',
        'At least one question must be about weight (its text must contain "weigh" and neither "goal" nor "initiative")',
      );
    }
  }

  private checkTotalFileSize(answers: PlannedAnswer[]): void {
    let total = 0;
    for (const answer of answers) {
      for (const file of answer.parsed.files ?? []) if (file.kind === 'inline') total += file.size;
    }
    if (total > this.deps.fileLimits.maxTotalBytes) {
      throw new ApiError(
        413,
        `The files of this request total more than the limit of ${this.deps.fileLimits.maxTotalBytes} bytes`,
      );
    }
  }
}

/**
 * PostgreSQL text and jsonb cannot hold U+0000 nor lone surrogates: refuse them, with their path, in every
 * field that may be stored (the known fields; unknown fields are ignored and never stored).
 */
function rejectNulCharacters(body: IntakeBody): void {
  // The error's path is made only for a refusal: this runs for every field of every intake.
  const refusal = (found: UnstorableText, path: (string | number)[]) =>
    validationError([...path, ...found.path].join('.'), found.message);
  for (const key of BODY_FIELDS) {
    if (key === 'questions') continue;
    const found = findUnstorableText(body[key]);
    if (found) throw refusal(found, [key]);
  }
  for (let index = 0; index < body.questions.length; index++) {
    const item = body.questions[index]!;
    for (const key of QUESTION_FIELDS) {
      const found = findUnstorableText(item[key]);
      if (found) throw refusal(found, ['questions', index, key]);
    }
  }
}

const BODY_FIELDS = Object.keys(intakeBodySchema.shape) as (keyof IntakeBody)[];
const QUESTION_FIELDS = Object.keys(questionItemSchema.shape) as (keyof QuestionItem)[];

interface UnstorableText {
  /** Where it is, below the value searched (a key holding U+0000 is reported at its object). */
  path: (string | number)[];
  message: string;
}

/**
 * The first string in `value` (an object's keys included) that holds U+0000 or a lone surrogate. Its path
 * is built on the way back up, so the common case, nothing to refuse, builds none.
 */
function findUnstorableText(value: unknown): UnstorableText | undefined {
  if (typeof value === 'string') {
    const message = unstorableText(value);
    if (message) return { path: [], message };
  } else if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const found = findUnstorableText(value[index]);
      if (found) {
        found.path.unshift(index);
        return found;
      }
    }
  } else if (typeof value === 'object' && value !== null) {
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      if (key.includes('\u0000')) return { path: [], message: 'Must not contain NUL characters' };
      const found = findUnstorableText((value as Record<string, unknown>)[key]);
      if (found) {
        found.path.unshift(key);
        return found;
      }
    }
  }
  return undefined;
}

function sameDefinition(definition: QuestionDefinition, row: QuestionRow): boolean {
  return (
    definition.id === row.id &&
    definition.question === row.question &&
    definition.type === row.type &&
    definition.required === row.required &&
    definition.phi === row.phi &&
    definition.hint === row.hint &&
    definition.placeholder === row.placeholder &&
    definition.options.length === row.options.length &&
    definition.options.every((option, index) => option === row.options[index])
  );
}

/** A stored form's questions by type and text; made once per form read (a cached form is planned often). */
const byTypeAndText = new WeakMap<readonly QuestionRow[], Map<string, QuestionRow>>();
function questionsByTypeAndText(questions: readonly QuestionRow[]): Map<string, QuestionRow> {
  let found = byTypeAndText.get(questions);
  if (!found) {
    found = new Map(questions.map((row) => [`${row.type}\u0000${row.question}`, row]));
    byTypeAndText.set(questions, found);
  }
  return found;
}

function definitionOf(row: QuestionRow): QuestionDefinition {
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
