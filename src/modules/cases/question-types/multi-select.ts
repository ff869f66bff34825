import { parseJson, quote, validationError } from '../validation.ts';
import type { QuestionType } from './types.ts';

/**
 * MULTISELECT. Form-title mode: a JSON string holding an array of strings; form-id mode: an array of
 * strings. Each mode accepts the other's form too. Every choice must be an option; duplicates are
 * dropped; stored as an array in the order given.
 */
export const multiSelect: QuestionType = {
  name: 'MULTISELECT',
  needsOptions: true,
  takesAnswer: true,
  parse(answer, { options, path }) {
    const list = typeof answer === 'string' ? parseJson(answer) : answer;
    if (!Array.isArray(list) || list.some((choice) => typeof choice !== 'string')) {
      throw validationError(path, 'Must be a JSON array of strings');
    }
    const choices = [...new Set((list as string[]).map((choice) => choice.trim()))];
    const unknown = choices.find((choice) => !options.includes(choice));
    if (unknown !== undefined) throw validationError(path, `${quote(unknown)} is not one of the provided options`);
    return { value: choices };
  },
};
