import { boolean } from './boolean.ts';
import { dateRange } from './date-range.ts';
import { date } from './date.ts';
import { file } from './file.ts';
import { multiSelect } from './multi-select.ts';
import { singleSelect } from './single-select.ts';
import { statement } from './statement.ts';
import { text } from './text.ts';
import type { QuestionType } from './types.ts';
import { widgetBmi } from './widget-bmi.ts';
import { widgetStatePicker } from './widget-state-picker.ts';
import { widgetUserIdDocument } from './widget-user-id-document.ts';
import { widgetVisitType } from './widget-visit-type.ts';

/** Every supported question type, keyed by its name. Adding a type is adding a file and a line here. */
export const questionTypes: ReadonlyMap<string, QuestionType> = new Map(
  [
    text,
    boolean,
    date,
    dateRange,
    singleSelect,
    multiSelect,
    file,
    widgetUserIdDocument,
    widgetBmi,
    widgetStatePicker,
    widgetVisitType,
    statement,
  ].map((type) => [type.name, type]),
);

export const questionTypeNames: readonly string[] = [...questionTypes.keys()];

/** The type by name (any case), or undefined for an unknown type. */
export function findQuestionType(name: string): QuestionType | undefined {
  return questionTypes.get(name.trim().toUpperCase());
}
