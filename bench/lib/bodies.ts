import { randomBytes } from 'node:crypto';

/**
 * Request bodies of the scenarios. A body is a JSON template in which every UNIQUE token is replaced,
 * per request, by a value unique to that request (the patient's email and the idempotencyKey), so no
 * request is a repeat. The load generator splits the template once and joins it per request.
 */
export const UNIQUE = '@@unique@@';

/** The six questions of mixed types (seed 003), in form-title mode. One of them is PHI (encrypted). */
export const titleQuestions = [
  {
    question: 'What is your current weight?',
    type: 'TEXT',
    required: true,
    answer: '150 lbs',
    phi: false,
    hint: 'Enter your current weight',
    placeholder: 'e.g., 150 lbs',
  },
  { question: 'Do you have any allergies?', type: 'BOOLEAN', required: true, answer: 'true', phi: true },
  {
    question: 'Select your preferred visit type',
    type: 'SINGLESELECT',
    required: false,
    options: ['Video Call', 'Phone Call', 'In Person'],
    answer: 'Video Call',
  },
  {
    question: 'When did your symptoms start?',
    type: 'DATERANGE',
    required: false,
    answer: 'January 1, 2024 - indefinite',
  },
  {
    question: 'Select your dietary preferences',
    type: 'MULTISELECT',
    required: false,
    options: ['Weight-loss Supplements', 'Dieting', 'Exercise', 'Nutrition Counseling'],
    answer: '["Weight-loss Supplements", "Dieting"]',
  },
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

function patientFields() {
  return {
    firstName: 'John',
    lastName: 'Doe',
    email: `bench-${UNIQUE}@example.com`,
    dob: '1990-01-15',
    gender: 'MALE',
    phoneNumber: '+1234567890',
    status: 'OPEN',
    idempotencyKey: `bench-${UNIQUE}`,
    shippingAddress: {
      addressLine1: '1600 Pennsylvania Avenue NW',
      addressLine2: '',
      city: 'Washington',
      state: 'DC',
      country: 'US',
      postalCode: '20500',
    },
  };
}

export function intakeByTitle(formTitle: string, extraQuestions: readonly object[] = []): string {
  return JSON.stringify({
    ...patientFields(),
    formTitle,
    formDescription: 'Initial patient information collection',
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
    formDescription: 'Initial patient information collection',
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
