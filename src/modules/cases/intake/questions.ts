import { ApiError } from '../../../http/api-error.ts';
import type { QuestionDefinition, QuestionRow } from '../../forms/repository.ts';
import type { FileLimits } from '../question-types/files.ts';
import { findQuestionType, questionTypeNames } from '../question-types/registry.ts';
import type { IntakeMode, ParsedAnswer, QuestionType } from '../question-types/types.ts';
import type { QuestionItem } from '../schemas.ts';
import { answerRequiredError, quote, validationError } from '../validation.ts';

/** A validated answer, ready to be written. `definitionIndex` points into the plan's definitions. */
export interface PlannedAnswer {
  definitionIndex: number;
  type: QuestionType;
  phi: boolean;
  parsed: ParsedAnswer;
}

const MAX_QUESTION_LENGTH = 10_000;

/** "No answer": absent, null, a blank string or an empty array. */
function isBlank(answer: unknown): boolean {
  return (
    answer === undefined ||
    answer === null ||
    (typeof answer === 'string' && answer.trim() === '') ||
    (Array.isArray(answer) && answer.length === 0)
  );
}

/** The Case Create endpoint's weight rule: text contains "weigh" and neither "goal" nor "initiative" (any case). */
export function isWeightQuestion(text: string): boolean {
  const lower = text.toLowerCase();
  return lower.includes('weigh') && !lower.includes('goal') && !lower.includes('initiative');
}

/** An answer checked and parsed by its question's type; undefined when there is nothing to store. */
export function planAnswer(
  mode: IntakeMode,
  definition: QuestionDefinition,
  definitionIndex: number,
  type: QuestionType,
  answer: unknown,
  index: number,
  fileLimits: FileLimits,
): PlannedAnswer | undefined {
  if (!type.takesAnswer) return undefined;
  if (isBlank(answer)) {
    if (definition.required) throw answerRequiredError(definition.question, definition.id);
    return undefined;
  }
  const parsed = type.parse(answer, {
    mode,
    options: definition.options,
    path: `questions.${index}.answer`,
    fileLimits,
  });
  return { definitionIndex, type, phi: definition.phi, parsed };
}

export function questionText(item: QuestionItem, path: string): string {
  if (item.question === undefined || item.question === null) throw validationError(`${path}.question`, 'Required');
  const text = item.question.trim();
  if (text === '') throw validationError(`${path}.question`, 'Must not be empty');
  if (text.length > MAX_QUESTION_LENGTH) {
    throw validationError(`${path}.question`, `Must be at most ${MAX_QUESTION_LENGTH} characters`);
  }
  return text;
}

export function questionType(item: QuestionItem, path: string): QuestionType {
  if (item.type === undefined || item.type === null) throw validationError(`${path}.type`, 'Required');
  const type = findQuestionType(item.type);
  if (!type) {
    throw validationError(
      `${path}.type`,
      `Unknown question type ${quote(item.type)}; expected one of ${questionTypeNames.join(', ')}`,
    );
  }
  return type;
}

export function questionOptions(item: QuestionItem, type: QuestionType, path: string): string[] {
  if (!type.needsOptions) return [];
  const options = [...new Set((item.options ?? []).map((option) => option.trim()))];
  if (options.length === 0) throw validationError(`${path}.options`, `Required for ${type.name} questions`);
  if (options.includes('')) throw validationError(`${path}.options`, 'Options must not be empty');
  return options;
}

export function checkWeightRule(definitions: readonly QuestionDefinition[]): void {
  if (!definitions.some((definition) => isWeightQuestion(definition.question))) {
    throw validationError(
      'questions',
      'At least one question must be about weight (its text must contain "weigh" and neither "goal" nor "initiative")',
    );
  }
}

export function checkTotalFileSize(answers: readonly PlannedAnswer[], limits: FileLimits): void {
  let total = 0;
  for (const answer of answers) {
    for (const file of answer.parsed.files ?? []) if (file.kind === 'inline') total += file.size;
  }
  if (total > limits.maxTotalBytes) {
    throw new ApiError(413, `The files of this request total more than the limit of ${limits.maxTotalBytes} bytes`);
  }
}

export function sameDefinition(definition: QuestionDefinition, row: QuestionRow): boolean {
  return (
    definition.id === row.id &&
    definition.question === row.question &&
    definition.type === row.type &&
    definition.required === row.required &&
    definition.phi === row.phi &&
    definition.hint === row.hint &&
    definition.placeholder === row.placeholder &&
    definition.options.length === row.options.length &&
    definition.options.every((option, index) => option === row.options[index])
  );
}

/** A stored form's questions by type and text; made once per form read (a cached form is planned often). */
const byTypeAndText = new WeakMap<readonly QuestionRow[], Map<string, QuestionRow>>();
export function questionsByTypeAndText(questions: readonly QuestionRow[]): Map<string, QuestionRow> {
  let found = byTypeAndText.get(questions);
  if (!found) {
    found = new Map(questions.map((row) => [`${row.type}\u0000${row.question}`, row]));
    byTypeAndText.set(questions, found);
  }
  return found;
}
