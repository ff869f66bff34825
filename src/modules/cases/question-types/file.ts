import { parseFileList } from './files.ts';
import type { JsonValue, QuestionType } from './types.ts';

/**
 * FILE: an array of `{name, data, contentType?}` where data is base64 content (decoded, checked and stored)
 * or an http(s) URL (stored as a reference, never fetched). Stored as the list of file descriptions.
 */
export const file: QuestionType = {
  name: 'FILE',
  needsOptions: false,
  takesAnswer: true,
  parse(answer, { path, fileLimits }) {
    const files = parseFileList(answer, path, fileLimits);
    return {
      files,
      value: files.map((entry): JsonValue =>
        entry.kind === 'inline'
          ? {
              fileId: entry.fileId,
              name: entry.name,
              contentType: entry.contentType,
              size: entry.size,
              sha256: entry.sha256,
            }
          : { fileId: entry.fileId, name: entry.name, contentType: entry.contentType, url: entry.url },
      ),
    };
  },
};
