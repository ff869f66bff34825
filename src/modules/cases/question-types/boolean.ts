import { validationError } from '../validation.ts';
import type { QuestionType } from './types.ts';

/** BOOLEAN: "true" or "false" (a JSON boolean is accepted too); stored as a JSON boolean. */
export const boolean: QuestionType = {
  name: 'BOOLEAN',
  needsOptions: false,
  takesAnswer: true,
  parse(answer, { path }) {
    if (typeof answer === 'boolean') return { value: answer };
    if (typeof answer === 'string') {
      const normalized = answer.trim().toLowerCase();
      if (normalized === 'true') return { value: true };
      if (normalized === 'false') return { value: false };
    }
    throw validationError(path, 'Must be a JSON boolean ("true" or "false")');
  },
};
