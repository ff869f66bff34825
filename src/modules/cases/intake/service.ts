import { randomUUID } from 'node:crypto';
import type { Database } from '../../../db/database.ts';
import { isUniqueViolation } from '../../../db/database.ts';
import { hashPassword } from '../../../crypto/password.ts';
import type { PhiCipher } from '../../../crypto/phi.ts';
import { ApiError, IdempotencyConflictError } from '../../../http/api-error.ts';
import type { Scope, Tenant } from '../../../http/gate.ts';
import { isUuid } from '../../../uuid.ts';
import type { FileStorage } from '../../files/storage.ts';
import { FormRepository, type QuestionRow } from '../../forms/repository.ts';
import type { FileLimits } from '../question-types/files.ts';
import { CaseRepository, IDEMPOTENCY_INDEX } from '../repository.ts';
import type { IntakeBody, QuestionItem } from '../schemas.ts';
import { profileOf, rejectNulCharacters, statusOf } from './normalize.ts';
import {
  hasPaymentFields,
  paymentFieldsOf,
  shapeOnlyPaymentProcessor,
  type IntakePaymentFields,
  type IntakePaymentProcessor,
} from './payments.ts';
import { IntakePlanner } from './plan.ts';
import { checkTotalFileSize, checkWeightRule } from './questions.ts';
import {
  IntakeWriter,
  sealAnswer,
  StaleFormError,
  type IntakeResult,
  type SealedAnswer,
  type WrittenIntake,
} from './write.ts';

export type { IntakeResult } from './write.ts';

/** The Patient Add Form to Case endpoint's answer for a case that is not the organization's. */
export const CASE_NOT_VALID = 'Provided case is not valid';

export interface IntakeDependencies {
  db: Database;
  cipher: PhiCipher;
  fileStorage: FileStorage;
  fileLimits: FileLimits;
  payments?: IntakePaymentProcessor;
  /**
   * Called once a new OPEN case has committed (auto-assignment: src/modules/staff/auto-assignment.ts). It answers
   * for its own failures: the case exists by then, and the intake's answer says so.
   */
  onCaseOpened?: (tenant: Tenant, caseId: string) => Promise<unknown>;
}

/** Who is calling, as the intake asks it (the gate's `Scope`). */
export type IntakeCaller = Pick<Scope, 'tenant' | 'apiKeyId' | 'keyToCheckInWrite' | 'confirmKey'>;

/**
 * POST /api/v1/dynamic-case (Case Create endpoint): normalizes the body (normalize.ts), plans the form and its
 * answers (plan.ts), prepares the payment, and writes it all atomically (write.ts).
 */
export class IntakeService {
  private readonly payments: IntakePaymentProcessor;
  private readonly planner: IntakePlanner;
  private readonly writer: IntakeWriter;

  constructor(private readonly deps: IntakeDependencies) {
    this.payments = deps.payments ?? shapeOnlyPaymentProcessor;
    this.planner = new IntakePlanner(deps.db, deps.fileLimits);
    this.writer = new IntakeWriter({ ...deps, payments: this.payments });
  }

  /**
   * A key the gate took from memory (keyConfirmedByWrite) is checked by the intake's own statement; with
   * payment fields, before the first gateway call instead.
   */
  async createCase(caller: IntakeCaller, body: IntakeBody): Promise<IntakeResult> {
    rejectNulCharacters(body);
    // A form read from the cache may have changed since (another process): the write then finds it at
    // another version and writes nothing, and the intake is planned again from the stored form. Not with
    // payment fields: their gateway calls must not run twice, so those intakes always read the form.
    const payment = paymentFieldsOf(body);
    const useCache = !hasPaymentFields(payment);
    try {
      return await this.createCaseOnce(caller, body, payment, useCache);
    } catch (error) {
      if (!(error instanceof StaleFormError)) throw error;
      this.planner.forget(caller.tenant, error.title);
      return this.createCaseOnce(caller, body, payment, false);
    }
  }

  /** The questions of the organization's form with this title, by id (empty when there is no such form). */
  async storedQuestions(tenant: Tenant, title: string): Promise<Map<string, QuestionRow>> {
    const found = await new FormRepository(this.deps.db, tenant).findByTitleWithQuestions(title);
    return new Map((found?.questions ?? []).map((row) => [row.id, row]));
  }

  /**
   * A follow-up form into an existing case (Patient Add Form to Case): planned like a form-title intake (the
   * same question types, answer rules and PHI rules; not the weight rule, which is the intake's) and written
   * into the case with its case event (IntakeWriter.writeFollowUp). A case that is not the organization's is
   * "Provided case is not valid"; a request with no answer at all, "Case Form can't be Submitted.".
   */
  async addFormToCase(
    caller: Pick<Scope, 'tenant' | 'apiKeyId'>,
    caseId: string,
    form: { title: string; description?: string; questions: QuestionItem[] },
  ): Promise<IntakeResult> {
    rejectNulCharacters({
      formTitle: form.title,
      formDescription: form.description,
      questions: form.questions,
    } as IntakeBody);
    const { tenant } = caller;
    if (!isUuid(caseId)) throw new ApiError(400, CASE_NOT_VALID);
    // Planned from the stored form, not the cache: the write checks PHI against the stored questions.
    const { plan, answers } = await this.planner.planByTitle(
      tenant,
      form.title,
      form.description,
      form.questions,
      false,
    );
    if (answers.length === 0) throw new ApiError(400, "Case Form can't be Submitted.");
    checkTotalFileSize(answers, this.deps.fileLimits);
    const sealed: SealedAnswer[] = [];
    for (const answer of answers) sealed.push(await sealAnswer(this.deps.cipher, answer, answer.phi));
    const written = await this.writer.writeFollowUp({
      tenant,
      caseId: caseId.toLowerCase(),
      apiKeyId: caller.apiKeyId,
      plan,
      answers,
      sealed,
    });
    if (!written) throw new ApiError(400, CASE_NOT_VALID);
    if (plan.mode === 'formTitle' && !plan.unchangedFormId) this.planner.forget(tenant, plan.title);
    return written;
  }

  private async createCaseOnce(
    caller: IntakeCaller,
    body: IntakeBody,
    payment: IntakePaymentFields,
    useCache: boolean,
  ): Promise<IntakeResult> {
    const { tenant } = caller;
    const profile = profileOf(body);
    const idempotencyKey = body.idempotencyKey ? body.idempotencyKey : undefined;
    const { plan, answers } = await this.planner.plan(tenant, body, useCache);
    checkWeightRule(plan.definitions);
    checkTotalFileSize(answers, this.deps.fileLimits);

    // The write checks an unconfirmed key; payment calls come before it, so the key is confirmed first.
    const paying = hasPaymentFields(payment);
    let confirmApiKeyId = caller.keyToCheckInWrite;
    if (confirmApiKeyId && paying) {
      if (!(await caller.confirmKey())) throw new ApiError(401, 'Invalid request');
      confirmApiKeyId = undefined;
    }
    // A repeat is answered before any payment call; the unique index settles concurrent repeats, and
    // answers a repeat without payment fields by itself (the write then fails and writes nothing).
    if (
      idempotencyKey &&
      paying &&
      (await new CaseRepository(this.deps.db, tenant).idempotencyKeyUsed(idempotencyKey))
    ) {
      throw new IdempotencyConflictError();
    }

    // Done before any payment is prepared: a failure here costs no charge.
    if (body.password) profile.passwordHash = await hashPassword(body.password);
    // In turn, not with Promise.all: sealing is synchronous work, only a PHI answer awaits (its key, once).
    const sealed: SealedAnswer[] = [];
    for (const answer of answers) sealed.push(await sealAnswer(this.deps.cipher, answer, answer.phi));
    // Without payment fields there is nothing to prepare (a processor would resolve to undefined).
    const prepared = paying
      ? await this.payments.prepare({ tenant, idempotencyKey, payment, patientEmail: profile.email })
      : undefined;
    const caseId = randomUUID();
    const status = statusOf(body);
    let written: WrittenIntake;
    try {
      written = await this.writer.write({
        tenant,
        caseId,
        apiKeyId: caller.apiKeyId,
        confirmApiKeyId,
        plan,
        answers,
        sealed,
        profile,
        status,
        idempotencyKey,
        payment,
        prepared,
      });
      // The cached definition is now behind the stored form: the next intake reads it again.
      if (plan.mode === 'formTitle' && !plan.unchangedFormId) this.planner.forget(tenant, plan.title);
    } catch (error) {
      // The case was not written: undo what `prepare` did for it (a charge, a promo code's use).
      if (prepared !== undefined) await this.payments.abandon?.({ tenant, caseId, prepared });
      if (isUniqueViolation(error, IDEMPOTENCY_INDEX)) throw new IdempotencyConflictError();
      throw error;
    }
    // After the write, outside its try: the case exists whatever happens here (its payment stays).
    const { autoAssignmentOn, ...result } = written;
    if (status === 'OPEN' && autoAssignmentOn && this.deps.onCaseOpened) await this.deps.onCaseOpened(tenant, caseId);
    return result;
  }
}
