import { ApiError } from '../../http/envelopes.ts';

/** The documented 400 of POST /api/v1/dynamic-case: `Validation failed: <field path>: <message>`. */
export function validationError(fieldPath: string, message: string): ApiError {
  return new ApiError(400, `Validation failed: ${fieldPath}: ${message}`);
}

/** The documented 400 for a required question left unanswered (seed 003, "Missing Required Answer"). */
export function answerRequiredError(questionText: string, questionId: string): ApiError {
  return new ApiError(400, `Question '${questionText}' with questionId: ${questionId}: Answer is required`);
}

/** A real calendar date in `YYYY-MM-DD`. */
export function isIsoDate(value: string): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/** Parses a JSON string, or undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Short, safe rendering of a client value inside an error message (never more than 60 characters). */
export function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return `'${text.length > 60 ? `${text.slice(0, 57)}...` : text}'`;
}
