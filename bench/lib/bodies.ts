import { randomBytes } from 'node:crypto';
import { caseCreateFormTitle } from '../../src/http/openapi-examples.ts';

/**
 * Request bodies of the scenarios. A body is a JSON template in which every UNIQUE token is replaced,
 * per request, by a value unique to that request (the patient's email and the idempotencyKey), so no
 * request is a repeat. The load generator splits the template once and joins it per request.
 */
export const UNIQUE = '@@unique@@';

/**
 * The six questions of mixed types, in form-title mode: the five of the Case Create page's example (the API
 * reference's "try it" body), with its allergies answer made PHI so one answer is encrypted, and a DATE question.
 */
export const titleQuestions = [
  ...caseCreateFormTitle.questions.map((question) =>
    question.question === 'Do you have any allergies?' ? { ...question, phi: true } : question,
  ),
  { question: 'When was your last check-up?', type: 'DATE', required: false, answer: '2024-01-15' },
] as const;

/** The same answers in form-id mode, by question text (DATERANGE and MULTISELECT take JSON values). */
export const formIdAnswers: Record<string, unknown> = {
  'What is your current weight?': '140 lbs',
  'Do you have any allergies?': 'false',
  'Select your preferred visit type': 'Phone Call',
  'When did your symptoms start?': { startDate: '2025-08-05', endDate: null },
  'Select your dietary preferences': ['Weight-loss Supplements', 'Dieting'],
  'When was your last check-up?': '2024-02-20',
};

/** The example's patient, with a patient email and idempotency key of its own per request. */
function patientFields() {
  const { formTitle: _title, formDescription: _description, questions: _questions, ...patient } = caseCreateFormTitle;
  return { ...patient, email: `bench-${UNIQUE}@example.com`, idempotencyKey: `bench-${UNIQUE}` };
}

export function intakeByTitle(formTitle: string, extraQuestions: readonly object[] = []): string {
  return JSON.stringify({
    ...patientFields(),
    formTitle,
    formDescription: caseCreateFormTitle.formDescription,
    questions: [...titleQuestions, ...extraQuestions],
  });
}

export function intakeByFormId(formId: string, questions: readonly { questionId: string; question: string }[]): string {
  return JSON.stringify({
    ...patientFields(),
    formId,
    questions: questions
      .filter((question) => question.question in formIdAnswers)
      .map((question) => ({ questionId: question.questionId, answer: formIdAnswers[question.question] })),
  });
}

/**
 * A FILE question whose answer is one inline PDF of `bytes` bytes (a PDF signature, then random bytes:
 * incompressible, like a scan), sent as base64 (about 4/3 of that on the wire).
 */
export function fileQuestion(bytes: number): object {
  const header = Buffer.from('%PDF-1.4\n', 'latin1');
  const content = Buffer.concat([header, randomBytes(bytes - header.length)]);
  return {
    question: 'Upload your lab results',
    type: 'FILE',
    required: false,
    answer: [{ name: 'labs.pdf', data: content.toString('base64'), contentType: 'application/pdf' }],
  };
}

export function casePayment(preauthorize: boolean): string {
  return JSON.stringify({
    amount: 100,
    description: preauthorize ? 'Creating preauthorized payment for DEMO' : 'Creating unpaid case payment',
    status: 'UNPAID',
    idempotencyKey: `bench-payment-${UNIQUE}`,
    ...(preauthorize ? { preauthorize: true } : {}),
  });
}

/**
 * The case detail's case: the six questions of `intakeByTitle`, two of them PHI (the weight as well as the
 * allergies), so the read decrypts two answers.
 */
export function intakeWithTwoPhi(formTitle: string): string {
  const questions = titleQuestions.map((question) =>
    question.question === 'What is your current weight?' ? { ...question, phi: true } : question,
  );
  return JSON.stringify({
    ...patientFields(),
    formTitle,
    formDescription: caseCreateFormTitle.formDescription,
    questions,
  });
}

/** The decision of the staff loop (bench/run.ts and the staff-loop ceiling send the same). */
export const STAFF_LOOP_DECISION = {
  isApproved: true,
  decisionText: 'Approved for treatment',
  visitType: 'ASYNC_TEXT_EMAIL',
  medInfo: [{ medicine: 'Semaglutide', dosage: '0.25 mg', refillCount: 2, dosingFrequency: 'weekly' }],
};
/** The provider's next page after a decision: the cases to work next (theirs, and unassigned ones of their states). */
export const STAFF_LOOP_NEXT_PAGE = '/staff/v1/cases?status=OPEN,ASSIGNED,IN_PROGRESS&limit=25';
