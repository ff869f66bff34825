import { validationError } from '../validation.ts';
import type { QuestionType } from './types.ts';

export const VISIT_TYPES = ['NO_SHOW', 'ASYNC_TEXT_EMAIL', 'SYNC_VIDEO', 'SYNC_PHONE', 'ORDER_FORM'] as const;

/** WIDGET_VISIT_TYPE: one of the five visit types (any case); stored upper-case. */
export const widgetVisitType: QuestionType = {
  name: 'WIDGET_VISIT_TYPE',
  needsOptions: false,
  takesAnswer: true,
  parse(answer, { path }) {
    const value = typeof answer === 'string' ? answer.trim().toUpperCase() : undefined;
    if (!value || !(VISIT_TYPES as readonly string[]).includes(value)) {
      throw validationError(path, `Must be one of: ${VISIT_TYPES.join(', ')}`);
    }
    return { value };
  },
};
