import type { FileLimits, IncomingFile } from './files.ts';

/** Form-title mode defines questions in the request; form-id mode answers a stored form's questions. */
export type IntakeMode = 'formTitle' | 'formId';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface AnswerContext {
  mode: IntakeMode;
  /** The question's options (select types); empty for the others. */
  options: readonly string[];
  /** Where the answer sits in the request, for error messages: `questions.2.answer`. */
  path: string;
  fileLimits: FileLimits;
}

export interface ParsedAnswer {
  /** The normalized value stored in answers.value (or encrypted, for PHI questions). */
  value: JsonValue;
  /** Files carried by the answer (FILE, WIDGET_USER_ID_DOCUMENT). */
  files?: IncomingFile[];
}

/**
 * One question type: how its answer is validated in each mode and how it is normalized for storage.
 * `parse` is only called with a present answer (not undefined, null, blank or empty); it throws the
 * documented validation error (see ../validation.ts) when the answer does not fit.
 */
export interface QuestionType {
  readonly name: string;
  /** SINGLESELECT and MULTISELECT: the question must list its options. */
  readonly needsOptions: boolean;
  /** STATEMENT: informational, never answered (an answer sent with it is ignored). */
  readonly takesAnswer: boolean;
  parse(answer: unknown, context: AnswerContext): ParsedAnswer;
}
