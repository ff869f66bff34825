import { quote, validationError } from '../validation.ts';
import type { QuestionType } from './types.ts';

/** SINGLESELECT: exactly one of the question's options (exact match after trimming); stored as that option. */
export const singleSelect: QuestionType = {
  name: 'SINGLESELECT',
  needsOptions: true,
  takesAnswer: true,
  parse(answer, { options, path }) {
    if (typeof answer !== 'string') throw validationError(path, 'Must be one of the provided options');
    const choice = answer.trim();
    if (!options.includes(choice)) throw validationError(path, `${quote(choice)} is not one of the provided options`);
    return { value: choice };
  },
};
