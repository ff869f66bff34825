import { createHash, randomUUID } from 'node:crypto';
import path from 'node:path';
import { ApiError } from '../../../http/api-error.ts';
import { LargeBase64 } from '../../../http/large-base64.ts';
import { isPlainObject, parseJson, validationError } from '../validation.ts';

/** Configurable limits on the files of one intake (see config: FILE_MAX_BYTES, FILES_MAX_PER_ANSWER, FILES_MAX_TOTAL_BYTES). */
export interface FileLimits {
  maxFileBytes: number;
  maxFilesPerAnswer: number;
  maxTotalBytes: number;
}

/** A file as received in an answer: decoded base64 content, or an http(s) reference that is never fetched. */
export type IncomingFile =
  | {
      kind: 'inline';
      fileId: string;
      name: string;
      contentType: string;
      content: Buffer;
      size: number;
      sha256: string;
    }
  | { kind: 'url'; fileId: string; name: string; contentType: string; url: string };

const EXTENSION_TYPES: Record<string, string> = {
  '.pdf': 'application/pdf',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.heic': 'image/heic',
  '.txt': 'text/plain',
  '.csv': 'text/csv',
  '.doc': 'application/msword',
  '.docx': 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
};

/** Signatures of the formats we can recognize: declared type and content must agree. */
const SIGNATURES: Record<string, (content: Buffer) => boolean> = {
  'application/pdf': (content) => content.subarray(0, 5).toString('latin1') === '%PDF-',
  'image/png': (content) =>
    content.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (content) => content[0] === 0xff && content[1] === 0xd8 && content[2] === 0xff,
  'image/gif': (content) => content.subarray(0, 4).toString('latin1') === 'GIF8',
};

const CONTENT_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const DATA_URI = /^data:([^;,]*)(;[^,]*)?,/i;
const URL_SCHEME = /^[a-z][a-z0-9+.-]*:/i;
const MAX_NAME_LENGTH = 255;
const MAX_URL_LENGTH = 2048;

export function formatBytes(bytes: number): string {
  return `${bytes} bytes`;
}

function tooLarge(name: string, limits: FileLimits): ApiError {
  return new ApiError(413, `File '${name}' is larger than the limit of ${formatBytes(limits.maxFileBytes)}`);
}

/**
 * The file list of a FILE or WIDGET_USER_ID_DOCUMENT answer: an array of `{name, data, contentType?}`
 * (a JSON string holding that array, or a single file object, is accepted too).
 */
export function parseFileList(answer: unknown, fieldPath: string, limits: FileLimits): IncomingFile[] {
  let list: unknown = typeof answer === 'string' ? parseJson(answer) : answer;
  if (isPlainObject(list)) list = [list];
  if (!Array.isArray(list)) {
    throw validationError(fieldPath, 'Must be an array of file objects with name and data');
  }
  if (list.length > limits.maxFilesPerAnswer) {
    throw validationError(fieldPath, `At most ${limits.maxFilesPerAnswer} files per answer`);
  }
  return list.map((entry, index) => parseFile(entry, `${fieldPath}.${index}`, limits));
}

function parseFile(entry: unknown, fieldPath: string, limits: FileLimits): IncomingFile {
  if (!isPlainObject(entry)) throw validationError(fieldPath, 'Must be a file object with name and data');
  const name = parseName(entry.name, `${fieldPath}.name`);
  const declaredType = parseContentType(entry.contentType, `${fieldPath}.contentType`);
  const data = entry.data;
  const file = { fileId: randomUUID(), name, declaredType, fieldPath: `${fieldPath}.data` };
  // Long base64 text, checked as base64 while the body was read: decoded from the body's bytes.
  if (data instanceof LargeBase64) return inlineFile(file, data.length, true, () => data.decode(), undefined, limits);
  if (typeof data !== 'string' || data.trim() === '') {
    throw validationError(file.fieldPath, data === undefined || data === null ? 'Required' : 'Must be a string');
  }
  const trimmed = data.trim();

  if (/^https?:\/\//i.test(trimmed)) {
    return {
      kind: 'url',
      fileId: file.fileId,
      name,
      contentType: declaredType ?? guessType(name),
      url: parseUrl(trimmed, file.fieldPath),
    };
  }
  const dataUri = DATA_URI.exec(trimmed);
  if (!dataUri && URL_SCHEME.test(trimmed) && trimmed.includes('://')) {
    throw validationError(file.fieldPath, 'Must be base64 content or an http(s) URL');
  }
  if (dataUri && !(dataUri[2] ?? '').toLowerCase().includes(';base64')) {
    throw validationError(file.fieldPath, 'A data URI must be base64-encoded');
  }
  const payload = dataUri ? trimmed.slice(dataUri[0].length) : trimmed;
  // Line breaks and spaces are allowed (MIME-style base64); a string without any is used as it is.
  const plain = BASE64.test(payload);
  const encoded = plain ? payload : payload.replace(/\s+/g, '');
  const valid = plain || BASE64.test(encoded);
  return inlineFile(file, encoded.length, valid, () => Buffer.from(encoded, 'base64'), dataUri?.[1], limits);
}

/**
 * An inline file from `length` characters of text (`valid`: base64 characters only) that `decode` turns
 * into its bytes; `uriType` is a data URI's media type, as written.
 */
function inlineFile(
  file: { fileId: string; name: string; declaredType: string | undefined; fieldPath: string },
  length: number,
  valid: boolean,
  decode: () => Buffer,
  uriType: string | undefined,
  limits: FileLimits,
): IncomingFile {
  // Reject before decoding when even the encoded length is over the limit.
  if (Math.floor((length * 3) / 4) - 2 > limits.maxFileBytes) throw tooLarge(file.name, limits);
  if (!valid || length % 4 === 1) {
    throw validationError(file.fieldPath, 'Must be valid base64 content or an http(s) URL');
  }
  const content = decode();
  if (content.length === 0) throw validationError(file.fieldPath, 'File is empty');
  if (content.length > limits.maxFileBytes) throw tooLarge(file.name, limits);

  const dataUriType = uriType ? parseContentType(uriType, file.fieldPath) : undefined;
  const contentType = file.declaredType ?? dataUriType ?? guessType(file.name);
  const signature = SIGNATURES[contentType];
  if (signature && !signature(content)) {
    throw validationError(file.fieldPath, `Content is not a valid ${contentType} file`);
  }
  return {
    kind: 'inline',
    fileId: file.fileId,
    name: file.name,
    contentType,
    content,
    size: content.length,
    sha256: createHash('sha256').update(content).digest('hex'),
  };
}

function parseName(value: unknown, fieldPath: string): string {
  if (value === undefined || value === null) throw validationError(fieldPath, 'Required');
  if (typeof value !== 'string') throw validationError(fieldPath, 'Must be a string');
  // Only the last path segment is kept: a file name is never a path.
  const name = value.trim().split(/[\\/]/).pop() ?? '';
  if (name === '' || name === '.' || name === '..') throw validationError(fieldPath, 'Must be a file name');
  if (name.length > MAX_NAME_LENGTH) throw validationError(fieldPath, `Must be at most ${MAX_NAME_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw validationError(fieldPath, 'Must not contain control characters');
  return name;
}

function parseContentType(value: unknown, fieldPath: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw validationError(fieldPath, 'Must be a string');
  const type = value.split(';')[0]!.trim().toLowerCase();
  if (!CONTENT_TYPE.test(type)) throw validationError(fieldPath, 'Must be a media type such as application/pdf');
  return type;
}

function parseUrl(value: string, fieldPath: string): string {
  if (value.length > MAX_URL_LENGTH)
    throw validationError(fieldPath, `URL must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw validationError(fieldPath, 'Must be a valid http(s) URL');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw validationError(fieldPath, 'Must be a valid http(s) URL');
  }
  if (url.username || url.password) throw validationError(fieldPath, 'URL must not contain credentials');
  return url.toString();
}

function guessType(name: string): string {
  return EXTENSION_TYPES[path.extname(name).toLowerCase()] ?? 'application/octet-stream';
}
