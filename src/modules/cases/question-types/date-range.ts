import { isIsoDate, isPlainObject, parseJson, validationError } from '../validation.ts';
import type { AnswerContext, QuestionType } from './types.ts';

const MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];
const OPEN_ENDED = new Set(['indefinite', 'ongoing', 'present', 'now', 'current']);
const MAX_TEXT_LENGTH = 200;

/** "August 10, 2021", "Aug 10 2021", "2021-08-10" or "8/10/2021" -> "2021-08-10"; undefined otherwise. */
export function parseHumanDate(text: string): string | undefined {
  const value = text.trim().replace(/\s+/g, ' ');
  if (isIsoDate(value)) return value;
  const pad = (number: number) => String(number).padStart(2, '0');
  const named = /^([A-Za-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})$/.exec(value);
  const slashed = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(value);
  let candidate: string | undefined;
  if (named) {
    const word = named[1]!.toLowerCase();
    const month = MONTHS.findIndex((name) => name === word || (word.length >= 3 && name.startsWith(word)));
    if (month >= 0) candidate = `${named[3]}-${pad(month + 1)}-${pad(Number(named[2]))}`;
  } else if (slashed) {
    candidate = `${slashed[3]}-${pad(Number(slashed[1]))}-${pad(Number(slashed[2]))}`;
  }
  return candidate && isIsoDate(candidate) ? candidate : undefined;
}

function checkOrder(startDate: string, endDate: string | null, path: string): void {
  if (endDate !== null && endDate <= startDate) {
    throw validationError(`${path}.endDate`, 'endDate must be greater than startDate');
  }
}

function parseRangeObject(value: Record<string, unknown>, path: string) {
  const { startDate, endDate } = value;
  if (typeof startDate !== 'string' || !isIsoDate(startDate)) {
    throw validationError(`${path}.startDate`, 'Must be a date in YYYY-MM-DD format');
  }
  if (endDate !== undefined && endDate !== null && (typeof endDate !== 'string' || !isIsoDate(endDate))) {
    throw validationError(`${path}.endDate`, 'Must be a date in YYYY-MM-DD format or null');
  }
  const end = typeof endDate === 'string' ? endDate : null;
  checkOrder(startDate, end, path);
  return { startDate, endDate: end };
}

function parseRangeText(text: string, path: string) {
  const example = 'Must be a date range such as "August 10, 2021 - indefinite" or "2021-08-10 - 2021-09-01"';
  if (text.length > MAX_TEXT_LENGTH) throw validationError(path, example);
  const parts = text.split(/\s+(?:-|–|—|to)\s+/i);
  if (parts.length !== 2) throw validationError(path, example);
  const startDate = parseHumanDate(parts[0]!);
  const endText = parts[1]!.trim();
  const endDate = OPEN_ENDED.has(endText.toLowerCase()) ? null : parseHumanDate(endText);
  if (!startDate || endDate === undefined) throw validationError(path, example);
  checkOrder(startDate, endDate, path);
  return { startDate, endDate, text: text.trim() };
}

/**
 * DATERANGE. Form-title mode: human-readable text ("August 10, 2021 - indefinite"); the object form is
 * accepted too. Form-id mode: `{startDate, endDate|null}` in YYYY-MM-DD (or that object as a JSON string).
 * Stored as `{startDate, endDate}` plus the original `text` when one was sent.
 */
export const dateRange: QuestionType = {
  name: 'DATERANGE',
  needsOptions: false,
  takesAnswer: true,
  parse(answer, { mode, path }: AnswerContext) {
    if (isPlainObject(answer)) return { value: parseRangeObject(answer, path) };
    if (typeof answer === 'string') {
      const decoded = answer.trim().startsWith('{') ? parseJson(answer) : undefined;
      if (isPlainObject(decoded)) return { value: parseRangeObject(decoded, path) };
      if (mode === 'formTitle') return { value: parseRangeText(answer, path) };
    }
    throw validationError(
      path,
      mode === 'formId'
        ? 'Must be an object {"startDate":"YYYY-MM-DD","endDate":"YYYY-MM-DD"|null}'
        : 'Must be a date range such as "August 10, 2021 - indefinite"',
    );
  },
};
