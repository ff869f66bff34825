import type { QuestionType } from './types.ts';

/** STATEMENT: informational text. Never answered and never required; an answer sent with it is ignored. */
export const statement: QuestionType = {
  name: 'STATEMENT',
  needsOptions: false,
  takesAnswer: false,
  parse: () => ({ value: null }),
};
