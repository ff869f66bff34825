import { file } from './file.ts';
import type { QuestionType } from './types.ts';

/** WIDGET_USER_ID_DOCUMENT: an ID document upload, validated and stored exactly like FILE. */
export const widgetUserIdDocument: QuestionType = { ...file, name: 'WIDGET_USER_ID_DOCUMENT' };
