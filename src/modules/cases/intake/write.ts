import { randomUUID } from 'node:crypto';
import { isUniqueViolation, type Database, type Queryable } from '../../../db/database.ts';
import type { PhiCipher } from '../../../crypto/phi.ts';
import { ApiError } from '../../../http/api-error.ts';
import type { Tenant } from '../../../http/gate.ts';
import type { FileStorage } from '../../files/storage.ts';
import { FileRepository } from '../../files/repository.ts';
import { FormRepository } from '../../forms/repository.ts';
import type { PatientProfile } from '../../patients/repository.ts';
import { recordCaseEvent } from '../lifecycle/events.ts';
import { newShortId, SHORT_ID_ATTEMPTS, SHORT_ID_INDEX } from '../lifecycle/short-id.ts';
import { CaseRepository } from '../repository.ts';
import type { IntakePaymentFields, IntakePaymentProcessor } from './payments.ts';
import type { FormPlan } from './plan.ts';
import type { PlannedAnswer } from './questions.ts';

export interface IntakeResult {
  caseId: string;
  formResponseId: string;
  paymentId?: string;
}

/** A new case as written, with what the intake does next: auto-assignment when its organization has it on. */
export interface WrittenIntake extends IntakeResult {
  autoAssignmentOn: boolean;
}

/** An answer as stored: its JSON in plaintext, or (PHI) its ciphertext. */
export interface SealedAnswer {
  value: string | null;
  encryptedValue: string | null;
}

/** Everything one intake writes, planned, validated and prepared (payment) before the write. */
export interface IntakeToWrite {
  tenant: Tenant;
  /** Drawn by the caller, which undoes a prepared payment for it when the write fails. */
  caseId: string;
  apiKeyId: string;
  /** A key the gate took from memory: the write checks it is still active, and writes nothing otherwise. */
  confirmApiKeyId?: string;
  plan: FormPlan;
  answers: PlannedAnswer[];
  sealed: SealedAnswer[];
  profile: PatientProfile;
  status: 'OPEN' | 'ABANDONED';
  idempotencyKey?: string;
  payment: IntakePaymentFields;
  /** What the payment processor prepared; undefined: no payment to record. */
  prepared: unknown;
}

/** A follow-up form, planned and sealed, for a case that already exists. */
export interface FollowUpToWrite {
  tenant: Tenant;
  caseId: string;
  apiKeyId: string;
  plan: FormPlan;
  answers: PlannedAnswer[];
  sealed: SealedAnswer[];
}

/** The intake was planned from a cached form that has changed since: nothing was written. */
export class StaleFormError extends Error {
  constructor(readonly title: string) {
    super('The form changed since it was read');
  }
}

export async function sealAnswer(cipher: PhiCipher, answer: PlannedAnswer, phi: boolean): Promise<SealedAnswer> {
  const json = JSON.stringify(answer.parsed.value);
  return phi ? { value: null, encryptedValue: await cipher.encryptText(json) } : { value: json, encryptedValue: null };
}

/**
 * Writes a planned intake atomically: in one statement when that is all there is to write (a known form, no
 * files, no payment), else in one transaction. Throws StaleFormError when the form is no longer as planned.
 */
export class IntakeWriter {
  constructor(
    private readonly deps: {
      db: Database;
      cipher: PhiCipher;
      fileStorage: FileStorage;
      payments: IntakePaymentProcessor;
    },
  ) {}

  async write(intake: IntakeToWrite): Promise<WrittenIntake> {
    const ids = {
      caseId: intake.caseId,
      formResponseId: randomUUID(),
      answerIds: intake.answers.map(() => randomUUID()),
    };
    const { plan } = intake;
    const inTransaction =
      (plan.mode === 'formTitle' && !plan.unchangedFormId) ||
      intake.answers.some((answer) => (answer.parsed.files?.length ?? 0) > 0) ||
      intake.prepared !== undefined;
    for (let attempt = 1; ; attempt += 1) {
      const shortId = newShortId();
      try {
        const write = (db: Queryable) => this.writeWith(db, intake, { ...ids, shortId });
        return await (inTransaction ? this.deps.db.transaction(write) : write(this.deps.db));
      } catch (error) {
        // Another case of the organization has this short id: nothing was written; draw another.
        if (attempt >= SHORT_ID_ATTEMPTS || !isUniqueViolation(error, SHORT_ID_INDEX)) throw error;
      }
    }
  }

  private async writeWith(
    db: Queryable,
    intake: IntakeToWrite,
    ids: { caseId: string; formResponseId: string; answerIds: string[]; shortId: string },
  ): Promise<WrittenIntake> {
    const { tenant, plan, answers } = intake;
    const { caseId, formResponseId, answerIds } = ids;
    const { formId, questionIds } = await this.writeForm(db, tenant, plan);
    const sealed = [...intake.sealed];
    const insert = () =>
      new CaseRepository(db, tenant).insertIntake({
        newPatientId: randomUUID(),
        patient: intake.profile,
        caseId,
        shortId: ids.shortId,
        apiKeyId: intake.apiKeyId,
        status: intake.status,
        idempotencyKey: intake.idempotencyKey,
        payment: intake.payment,
        formResponseId,
        formId,
        expectedFormVersion: plan.mode === 'formTitle' ? plan.cachedVersion : undefined,
        readFormVersion: plan.readVersion,
        confirmApiKeyId: intake.confirmApiKeyId,
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
        if (nowPhi.has(questionIds[answer.definitionIndex]!)) {
          sealed[index] = await sealAnswer(this.deps.cipher, answer, true);
        }
      }
      written = await insert();
    }
    if (!written) throw new StaleFormError(plan.mode === 'formTitle' ? plan.title : '');
    // Revoked since it was last read: nothing was written (a transaction rolls back what came before).
    if ('keyRevoked' in written) throw new ApiError(401, 'Invalid request');
    const { patientId, autoAssignmentOn } = written;

    await this.writeFiles(db, tenant, answers, { patientId, formResponseId, answerIds });

    if (intake.prepared === undefined) return { caseId, formResponseId, autoAssignmentOn };
    const { paymentId } = await this.deps.payments.record(db, { tenant, caseId, patientId, prepared: intake.prepared });
    return paymentId
      ? { caseId, formResponseId, paymentId, autoAssignmentOn }
      : { caseId, formResponseId, autoAssignmentOn };
  }

  /**
   * Writes a follow-up form into an existing case (Patient Add Form to Case): the form (when the request
   * redefines it), the form response, its answers and files, and the case's `case.form_response_added` event,
   * in one transaction that locks the case row first. Returns null, having written nothing, when the case is
   * not the organization's.
   */
  async writeFollowUp(followUp: FollowUpToWrite): Promise<IntakeResult | null> {
    const { tenant, caseId, plan, answers } = followUp;
    const formResponseId = randomUUID();
    const answerIds = answers.map(() => randomUUID());
    const sealed = [...followUp.sealed];
    return this.deps.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ patient_id: string }>(
        'select patient_id from cases where organization_id = $1 and id = $2 for update',
        [tenant.organizationId, caseId],
      );
      const patientId = rows[0]?.patient_id;
      if (!patientId) return null;
      const { formId, questionIds } = await this.writeForm(tx, tenant, plan);
      // A form used as stored is held by a share lock until the answers are written: a redefinition (which
      // locks the row) waits. A question that became PHI since the plan read the form (or by the redefinition
      // above: phi is sticky) has its answer sealed now.
      if (plan.mode === 'formId' || plan.unchangedFormId) {
        await tx.query('select 1 from forms where organization_id = $1 and id = $2 for share', [
          tenant.organizationId,
          formId,
        ]);
      }
      const plaintext = answers.flatMap((answer, index) =>
        sealed[index]!.value === null ? [] : [questionIds[answer.definitionIndex]!],
      );
      if (plaintext.length > 0) {
        const { rows: nowPhi } = await tx.query<{ id: string }>(
          'select id from questions where organization_id = $1 and id = any($2::uuid[]) and phi',
          [tenant.organizationId, plaintext],
        );
        const phiIds = new Set(nowPhi.map((row) => row.id));
        for (const [index, answer] of answers.entries()) {
          if (phiIds.has(questionIds[answer.definitionIndex]!)) {
            sealed[index] = await sealAnswer(this.deps.cipher, answer, true);
          }
        }
      }
      await new CaseRepository(tx, tenant).insertFormResponse({
        caseId,
        patientId,
        formResponseId,
        formId,
        answers: answers.map((answer, index) => ({
          id: answerIds[index]!,
          questionId: questionIds[answer.definitionIndex]!,
          questionType: answer.type.name,
          ...sealed[index]!,
        })),
      });
      await this.writeFiles(tx, tenant, answers, { patientId, formResponseId, answerIds });
      await recordCaseEvent(tx, {
        organizationId: tenant.organizationId,
        caseId,
        actor: { kind: 'api_key', id: followUp.apiKeyId },
        type: 'case.form_response_added',
        before: null,
        after: { formResponseId, formId },
        subject: { formResponseId },
      });
      return { caseId, formResponseId };
    });
  }

  /** The files of the answers: inline bytes into the file storage (sealed), and a file row each. */
  private async writeFiles(
    db: Queryable,
    tenant: Tenant,
    answers: readonly PlannedAnswer[],
    ids: { patientId: string; formResponseId: string; answerIds: readonly string[] },
  ): Promise<void> {
    const files = new FileRepository(db, tenant);
    for (const [index, answer] of answers.entries()) {
      for (const file of answer.parsed.files ?? []) {
        const storageKey =
          file.kind === 'inline'
            ? (await this.deps.fileStorage.put(db, { tenant, fileId: file.fileId, content: file.content })).storageKey
            : null;
        await files.insert(
          file,
          { patientId: ids.patientId, formResponseId: ids.formResponseId, answerId: ids.answerIds[index]! },
          storageKey,
        );
      }
    }
  }

  /** The form the answers belong to: (re)defined by this intake, or as stored. */
  private async writeForm(
    db: Queryable,
    tenant: Tenant,
    plan: FormPlan,
  ): Promise<{ formId: string; questionIds: string[] }> {
    if (plan.mode === 'formId') return { formId: plan.formId, questionIds: plan.definitions.map(({ id }) => id) };
    if (plan.unchangedFormId) {
      return { formId: plan.unchangedFormId, questionIds: plan.definitions.map(({ id }) => id) };
    }
    // Locks the form row first: intakes that change one form run one at a time. Intakes that only
    // use it take a key-share lock (their form response's foreign key), which this lock allows.
    const forms = new FormRepository(db, tenant);
    const formId = await forms.upsertByTitle(plan.title, plan.description);
    return { formId, questionIds: await forms.replaceQuestions(formId, plan.definitions) };
  }
}
