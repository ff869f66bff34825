import { isPlainObject, parseJson, validationError } from '../validation.ts';
import type { QuestionType } from './types.ts';

function positiveNumber(value: unknown, path: string): number {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number) || number <= 0) {
    throw validationError(path, 'Must be a positive number');
  }
  return number;
}

/**
 * WIDGET_BMI: `{height, weight, bmi}`, height in inches, weight in pounds, all positive. Form-title mode
 * sends it as a JSON string, form-id mode as an object (height as a string); both forms and numeric
 * strings are accepted in either mode. Stored as numbers.
 */
export const widgetBmi: QuestionType = {
  name: 'WIDGET_BMI',
  needsOptions: false,
  takesAnswer: true,
  parse(answer, { path }) {
    const value = typeof answer === 'string' ? parseJson(answer) : answer;
    if (!isPlainObject(value)) throw validationError(path, 'Must be an object with height, weight and bmi');
    return {
      value: {
        height: positiveNumber(value.height, `${path}.height`),
        weight: positiveNumber(value.weight, `${path}.weight`),
        bmi: positiveNumber(value.bmi, `${path}.bmi`),
      },
    };
  },
};
