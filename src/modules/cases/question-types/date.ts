import { isIsoDate, validationError } from '../validation.ts';
import type { QuestionType } from './types.ts';

/** DATE: one real calendar date in YYYY-MM-DD; stored as that string. */
export const date: QuestionType = {
  name: 'DATE',
  needsOptions: false,
  takesAnswer: true,
  parse(answer, { path }) {
    if (typeof answer !== 'string' || !isIsoDate(answer.trim())) {
      throw validationError(path, 'Must be a date in YYYY-MM-DD format');
    }
    return { value: answer.trim() };
  },
};
