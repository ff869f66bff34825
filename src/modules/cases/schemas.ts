import { z } from 'zod';
import { intakePaymentShape } from './intake/payments.ts';
import { questionTypeNames } from './question-types/registry.ts';
import { isIsoDate } from './validation.ts';

/**
 * The request and response schemas of POST /api/v1/dynamic-case (Case Create endpoint). The schema checks the
 * core fields and the shape of each question object; what a question needs depends on the mode (form title or
 * form id) and on its type, so that is checked by the intake service and the question-type modules.
 * Unknown fields are ignored. Optional string fields sent as "" count as absent.
 */

/**
 * The rules of the intake's fields that a type and a length do not say, each written once and applied by the
 * zod schemas below. Each takes a value of the field's type.
 */
export const intakeFieldRules = {
  /** Required text: something besides whitespace. */
  notBlank: (value: string) => value.trim() !== '',
  countryCode: (value: string) => /^[A-Za-z]{2}$/.test(value),
  /** Optional checked text (below): "" counts as absent. */
  dateOfBirth: (value: string) =>
    value === '' || (value.length <= 10 && isIsoDate(value) && value <= today() && value >= '1900-01-01'),
  gender: (value: string) =>
    value === '' || (value.length <= 200 && ['MALE', 'FEMALE'].includes(value.trim().toUpperCase())),
  phoneNumber: (value: string) => value === '' || (value.length <= 200 && E164.test(value)),
  caseStatus: (value: string) =>
    value === '' || (value.length <= 200 && ['OPEN', 'ABANDONED'].includes(value.trim().toUpperCase())),
  /**
   * A US address names a US state (or territory, or military mail) code. It takes fields of any type: a
   * field of the wrong type is refused by its own schema.
   */
  usShippingState: (address: { country?: unknown; state?: unknown }) =>
    typeof address.country !== 'string' ||
    address.country.toUpperCase() !== 'US' ||
    (typeof address.state === 'string' && US_STATE_CODES.has(address.state.trim().toUpperCase())),
};

const requiredText = (max: number) =>
  z
    .string({ error: (issue) => (issue.input === undefined || issue.input === null ? 'Required' : 'Must be a string') })
    .refine(intakeFieldRules.notBlank, { message: 'Must not be empty' })
    .refine((value) => value.length <= max, { message: `Must be at most ${max} characters` });

const optionalText = (max: number) =>
  z.string({ error: 'Must be a string' }).max(max, `Must be at most ${max} characters`).nullish();

/** An optional string that must satisfy `rule` (a rule above that takes "" as absent). */
const optionalChecked = (rule: (value: string) => boolean, message: string) =>
  z.string({ error: 'Must be a string' }).refine(rule, { message }).nullish();

/** Today's UTC date, YYYY-MM-DD; made once a day (and again if the clock is set back), not for every check. */
let todayCache = { date: '', from: 0, until: 0 };
const today = () => {
  const now = Date.now();
  if (now < todayCache.from || now >= todayCache.until) {
    const date = new Date(now);
    const from = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
    todayCache = { date: date.toISOString().slice(0, 10), from, until: from + 86_400_000 };
  }
  return todayCache.date;
};

const E164 = /^\+[1-9]\d{1,14}$/;
export const LANGUAGE_CODE = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;
const US_STATE_CODES = new Set(
  // The 50 states, DC, territories and military mail codes a US shipping address may carry.
  'AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP AA AE AP'.split(
    ' ',
  ),
);

export const shippingAddressSchema = z
  .object(
    {
      addressLine1: requiredText(200),
      addressLine2: optionalText(200),
      city: requiredText(100),
      state: requiredText(100).describe('State code, e.g. "DC"'),
      country: requiredText(2)
        .refine(intakeFieldRules.countryCode, { message: 'Must be a 2-letter country code, e.g. "US"' })
        .describe('ISO 3166-1 alpha-2 country code'),
      postalCode: requiredText(20),
    },
    { error: 'Must be an object' },
  )
  .superRefine((address, context) => {
    if (!intakeFieldRules.usShippingState(address)) {
      context.addIssue({ code: 'custom', path: ['state'], message: 'Must be a 2-letter US state code, e.g. "DC"' });
    }
  });

export const questionItemSchema = z.looseObject(
  {
    questionId: z
      .string({ error: 'Must be a string' })
      .nullish()
      .describe('Form-id mode: the id of a question of the form'),
    question: z.string({ error: 'Must be a string' }).nullish().describe('Form-title mode: the question text'),
    type: z
      .string({ error: 'Must be a string' })
      .nullish()
      .describe(`Form-title mode: one of ${questionTypeNames.join(', ')}`),
    required: z
      .boolean({ error: 'Must be a boolean' })
      .nullish()
      .describe('Form-title mode: whether an answer is required'),
    answer: z.unknown().optional().describe('The answer; its format depends on the question type and the mode'),
    phi: z.boolean({ error: 'Must be a boolean' }).nullish().describe('Whether the answer is PHI (encrypted at rest)'),
    hint: optionalText(1000),
    placeholder: optionalText(1000),
    options: z
      .array(z.string({ error: 'Must be a string' }).max(500, 'Must be at most 500 characters'), {
        error: 'Must be an array of strings',
      })
      .max(200, 'At most 200 options')
      .nullish(),
  },
  { error: 'Must be a question object' },
);

export const intakeBodySchema = z.looseObject(
  {
    firstName: requiredText(100),
    lastName: requiredText(100),
    email: z
      .email({
        error: (issue) => (issue.input === undefined || issue.input === null ? 'Required' : 'Invalid email address'),
      })
      .max(254, 'Must be at most 254 characters'),
    dob: optionalChecked(
      intakeFieldRules.dateOfBirth,
      'Must be a real date in YYYY-MM-DD format, not in the future',
    ).describe('Date of birth, YYYY-MM-DD'),
    gender: optionalChecked(intakeFieldRules.gender, 'Must be MALE or FEMALE').describe('MALE or FEMALE, any case'),
    phoneNumber: optionalChecked(intakeFieldRules.phoneNumber, 'Must be in E.164 format, e.g. +1234567890').describe(
      'E.164, e.g. +1234567890',
    ),
    password: optionalText(1024).describe('Stored only as a salted scrypt hash'),
    shippingAddress: shippingAddressSchema.nullish(),
    languagePreferences: z
      .array(
        z.string({ error: 'Must be a string' }).regex(LANGUAGE_CODE, 'Must be a language code, e.g. "en" or "es"'),
        { error: 'Must be an array of language codes' },
      )
      .max(20, 'At most 20 languages')
      .nullish(),
    status: optionalChecked(intakeFieldRules.caseStatus, 'Must be OPEN or ABANDONED').describe(
      'OPEN (default) or ABANDONED, any case',
    ),
    idempotencyKey: optionalText(255).describe('Scoped per organization: a repeat answers 409 and creates nothing'),
    formTitle: optionalText(200).describe('Form-title mode: creates the form or reuses the one with this title'),
    formDescription: optionalText(2000),
    formId: z.string({ error: 'Must be a string' }).nullish().describe('Form-id mode: the UUID of an existing form'),
    questions: z
      .array(questionItemSchema, {
        error: (issue) => (issue.input === undefined || issue.input === null ? 'Required' : 'Must be an array'),
      })
      .min(1, 'At least one question is required')
      .max(500, 'At most 500 questions'),
    ...intakePaymentShape,
  },
  { error: 'Must be a JSON object' },
);

export type IntakeBody = z.infer<typeof intakeBodySchema>;
export type QuestionItem = z.infer<typeof questionItemSchema>;

export const intakeSuccessSchema = z.object({
  success: z.literal(true),
  data: z.object({
    caseId: z.uuid(),
    formResponseId: z.uuid(),
    paymentId: z.string().optional().describe('Present when a payment was recorded with the case'),
  }),
});
