import { unstorableText } from '../../../db/text.ts';
import type { PatientProfile } from '../../patients/repository.ts';
import { intakeBodySchema, questionItemSchema, type IntakeBody, type QuestionItem } from '../schemas.ts';
import { validationError } from '../validation.ts';

/** A text field as stored: trimmed, and absent when blank. */
export const present = (value: string | null | undefined): string | undefined =>
  value === null || value === undefined || value.trim() === '' ? undefined : value.trim();

/** The case's status: OPEN unless the intake says ABANDONED (the schema allows only those two). */
export function statusOf(body: IntakeBody): 'OPEN' | 'ABANDONED' {
  return (present(body.status)?.toUpperCase() ?? 'OPEN') as 'OPEN' | 'ABANDONED';
}

/** The patient fields of an intake as the patient row stores them. */
export function profileOf(body: IntakeBody): PatientProfile {
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

/**
 * PostgreSQL text and jsonb cannot hold U+0000 nor lone surrogates: refuse them, with their path, in every
 * field that may be stored (the known fields; unknown fields are ignored and never stored).
 */
export function rejectNulCharacters(body: IntakeBody): void {
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
