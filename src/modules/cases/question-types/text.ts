import { validationError } from '../validation.ts';
import type { QuestionType } from './types.ts';

const MAX_LENGTH = 10_000;

/** TEXT: free text. A number is accepted and stored as its text; stored as given (not trimmed). */
export const text: QuestionType = {
  name: 'TEXT',
  needsOptions: false,
  takesAnswer: true,
  parse(answer, { path }) {
    const value = typeof answer === 'number' && Number.isFinite(answer) ? String(answer) : answer;
    if (typeof value !== 'string') throw validationError(path, 'Must be a string');
    if (value.length > MAX_LENGTH) throw validationError(path, `Must be at most ${MAX_LENGTH} characters`);
    return { value };
  },
};
