import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { PhiCipher } from '../../src/crypto/phi.ts';
import type { IntakePaymentProcessor } from '../../src/modules/cases/intake/payments.ts';
import { IntakeService } from '../../src/modules/cases/intake/service.ts';
import { DatabaseFileStorage } from '../../src/modules/files/storage.ts';
import { createTestContext, type TestContext } from '../support/app.ts';

export type { TestContext };

/** One PHI key per test process, so no test writes a key file into DATA_DIR (PostgreSQL runs). */
const PHI_ENCRYPTION_KEY = randomBytes(32).toString('hex');

/** A test context for the intake tests: no rate limits (the property tests send many requests). */
export function intakeTestContext(environment: Record<string, string> = {}): Promise<TestContext> {
  return createTestContext({
    RATE_LIMIT_PER_KEY: '0',
    RATE_LIMIT_PER_ADDRESS: '0',
    PHI_ENCRYPTION_KEY,
    ...environment,
  });
}

/** The seed page's form-title example, verbatim. */
export function formTitleExample(): Record<string, unknown> {
  return {
    firstName: 'John',
    lastName: 'Doe',
    email: 'john.doe@example.com',
    dob: '1990-01-15',
    gender: 'male',
    phoneNumber: '+1234567890',
    status: 'OPEN',
    idempotencyKey: 'unique-case-key-123',
    formTitle: 'Patient Intake Form',
    formDescription: 'Initial patient information collection',
    shippingAddress: {
      addressLine1: '1600 Pennsylvania Avenue NW',
      addressLine2: '',
      city: 'Washington',
      state: 'DC',
      country: 'US',
      postalCode: '20500',
    },
    questions: [
      { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs', phi: false },
      { question: 'Do you have any allergies?', type: 'BOOLEAN', required: true, answer: 'true' },
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
    ],
  };
}

/** The seed page's cURL example, verbatim. */
export function curlExample(): Record<string, unknown> {
  return {
    firstName: 'John',
    lastName: 'Doe',
    email: 'john.doe@example.com',
    dob: '1990-01-15',
    gender: 'MALE',
    phoneNumber: '+1234567890',
    idempotencyKey: 'unique-case-key-123',
    formTitle: 'Patient Intake Form',
    formDescription: 'Initial patient information collection',
    shippingAddress: {
      addressLine1: '1600 Pennsylvania Avenue NW',
      addressLine2: '',
      city: 'Washington',
      state: 'DC',
      country: 'US',
      postalCode: '20500',
    },
    questions: [
      { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs', phi: false },
      { question: 'Do you have any allergies?', type: 'BOOLEAN', required: true, answer: 'true' },
      {
        question: 'Select your preferred visit type',
        type: 'SINGLESELECT',
        required: false,
        options: ['Video Call', 'Phone Call', 'In Person'],
        answer: 'Video Call',
      },
    ],
  };
}

/** The seed page's form-id example; the ids are those of a form the test created. */
export function formIdExample(formId: string, questionIds: readonly string[]): Record<string, unknown> {
  const answers: unknown[] = [
    '140 lbs',
    'false',
    'SYNC_VIDEO',
    { startDate: '2025-08-05', endDate: null },
    ['Weight-loss Supplements', 'Dieting'],
  ];
  return {
    firstName: 'Jane',
    lastName: 'Smith',
    email: 'jane.smith@example.com',
    dob: '1985-05-20',
    gender: 'female',
    phoneNumber: '+1987654321',
    idempotencyKey: 'unique-case-key-456',
    shippingAddress: {
      addressLine1: '1600 Pennsylvania Avenue NW',
      addressLine2: '',
      city: 'Washington',
      state: 'DC',
      country: 'US',
      postalCode: '20500',
    },
    formId,
    questions: answers.map((answer, index) => ({ questionId: questionIds[index], answer })),
  };
}

/** A form-title body with the questions of the form-id example (so their ids can be read back). */
export function formForIdExample(title = 'Returning Patient Form'): Record<string, unknown> {
  return {
    firstName: 'Setup',
    lastName: 'Patient',
    email: 'setup@example.com',
    formTitle: title,
    questions: [
      { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' },
      { question: 'Do you have any allergies?', type: 'BOOLEAN', required: true, answer: 'true' },
      { question: 'How would you like to be seen?', type: 'WIDGET_VISIT_TYPE', required: true, answer: 'SYNC_PHONE' },
      { question: 'How long have you had symptoms?', type: 'DATERANGE', required: false },
      {
        question: 'Select your dietary preferences',
        type: 'MULTISELECT',
        required: false,
        options: ['Weight-loss Supplements', 'Dieting', 'Exercise', 'Nutrition Counseling'],
      },
    ],
  };
}

/** POST /api/v1/dynamic-case with an API key; returns status and parsed body. */
export async function postIntake(
  context: { app: FastifyInstance },
  apiKey: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> & { data?: Record<string, string>; error?: string } }> {
  const response = await context.app.inject({
    method: 'POST',
    url: '/api/v1/dynamic-case',
    headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
  return { status: response.statusCode, body: response.json() };
}

/** A minimal valid form-title body; `questions` and other fields can be overridden. */
export function minimalBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    firstName: 'Ada',
    lastName: 'Lovelace',
    email: 'ada@example.com',
    formTitle: 'Minimal Form',
    questions: [{ question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' }],
    ...overrides,
  };
}

/** The weight question every request needs, to add beside the question under test. */
export const weightQuestion = { question: 'Current weight', type: 'TEXT', required: false, answer: '180' };

export const SEED_CONFLICT_BODY = {
  status: 409,
  success: false,
  code: 'IDEMPOTENCY_ERROR',
  description: 'A record with the provided idempotencyKey already exists for this organization.',
};

export async function count(context: TestContext, table: string, organizationId: string): Promise<number> {
  const { rows } = await context.db.query<{ count: number }>(
    `select count(*)::int as count from ${table} where organization_id = $1`,
    [organizationId],
  );
  return rows[0]!.count;
}

/**
 * The app with a chosen intake payment processor (e.g. the shape-only default, to test how payment fields
 * are validated and stored without the payments module's gateway checks).
 */
export async function appWithPaymentProcessor(
  context: TestContext,
  payments: IntakePaymentProcessor,
  fileLimits = { maxFileBytes: 4096, maxFilesPerAnswer: 5, maxTotalBytes: 8192 },
): Promise<FastifyInstance> {
  const cipher = PhiCipher.ephemeral();
  const intake = new IntakeService({
    db: context.db,
    cipher,
    fileStorage: new DatabaseFileStorage(cipher),
    fileLimits,
    payments,
  });
  const app = await buildApp({
    config: context.config,
    db: context.db,
    services: { ...context.services, intake },
    logger: false,
  });
  await app.ready();
  return app;
}
