import { randomBytes } from 'node:crypto';
import { closingQuote } from './json-strings.ts';

/**
 * Long base64 strings of a JSON body (a file's `data`), kept as a range of the body's bytes instead of
 * being made into JavaScript strings.
 *
 * Parsed the usual way, a file arrives as two strings of its base64 length (the body text and the parsed
 * value), each in V8's large-object space, which is only collected by a full garbage collection, so a burst
 * of file intakes keeps dead strings resident (measured in docs/performance.md). Here the body stays one
 * Buffer; a string of at least LARGE_STRING_BYTES that holds only base64 characters is swapped for a
 * placeholder before JSON.parse and comes back as a LargeBase64 value under a `data` key (elsewhere, as the
 * string it was). The file code decodes it in slices of DECODE_SLICE characters straight into the content
 * buffer.
 */
export const LARGE_STRING_BYTES = 32 * 1024;

/** Characters decoded at a time: a multiple of 4, so every slice but the last decodes whole. */
const DECODE_SLICE = 48 * 1024;

const BASE64_SLICE = /^[A-Za-z0-9+/_-]*$/;
const BASE64_END = /^[A-Za-z0-9+/_-]*={0,2}$/;

export class LargeBase64 {
  readonly #body: Buffer;
  readonly #start: number;
  readonly #end: number;

  constructor(body: Buffer, start: number, end: number) {
    this.#body = body;
    this.#start = start;
    this.#end = end;
  }

  /** Characters of base64 text. */
  get length(): number {
    return this.#end - this.#start;
  }

  /** The text (ASCII, so Latin-1 and UTF-8 read the same). */
  toString(): string {
    return this.#body.toString('latin1', this.#start, this.#end);
  }

  toJSON(): string {
    return this.toString();
  }

  /** The decoded bytes, as Buffer.from(text, 'base64') gives them, with no string longer than a slice. */
  decode(): Buffer {
    const content = Buffer.alloc(Math.ceil(this.length / 4) * 3);
    let written = 0;
    for (let at = this.#start; at < this.#end; at += DECODE_SLICE) {
      const slice = this.#body.toString('latin1', at, Math.min(at + DECODE_SLICE, this.#end));
      written += content.write(slice, written, 'base64');
    }
    return content.subarray(0, written);
  }

  /** Whether bytes [start, end) are base64 text (padding only at the end), checked a slice at a time. */
  static holds(body: Buffer, start: number, end: number): boolean {
    for (let at = start; at < end; at += DECODE_SLICE) {
      const last = at + DECODE_SLICE >= end;
      const slice = body.toString('latin1', at, Math.min(at + DECODE_SLICE, end));
      if (!(last ? BASE64_END : BASE64_SLICE).test(slice)) return false;
    }
    return true;
  }
}

/**
 * A placeholder only this process can write: a client cannot send a string that is taken for one. It
 * begins with U+0000, which no stored text may hold, and holds a random token drawn at start-up.
 */
const PLACEHOLDER = `\u0000care360-large-base64:${randomBytes(12).toString('hex')}:`;
const PLACEHOLDER_JSON = JSON.stringify(PLACEHOLDER).slice(0, -1); // opening quote, escaped, no closing quote

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

function isJsonWhitespace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

/**
 * The body as JSON text with its long base64 strings swapped for placeholders, and those strings. The
 * text is decoded as UTF-8 as Fastify decodes a body. Object keys are never swapped.
 */
export function extractLargeBase64(body: Buffer): { text: string; values: LargeBase64[] } {
  const values: LargeBase64[] = [];
  // No string of a body shorter than the threshold can reach it: nothing to look for.
  if (body.length < LARGE_STRING_BYTES) return { text: body.toString('utf8'), values };
  const parts: Buffer[] = [];
  let copiedTo = 0;
  let nextBackslash = body.indexOf(BACKSLASH);
  let open = body.indexOf(QUOTE);
  while (open !== -1) {
    const close = closingQuote(body, open);
    if (close === -1) break; // unterminated: JSON.parse refuses the text
    while (nextBackslash !== -1 && nextBackslash < open) nextBackslash = body.indexOf(BACKSLASH, nextBackslash + 1);
    const escaped = nextBackslash !== -1 && nextBackslash < close;
    if (!escaped && close - open - 1 >= LARGE_STRING_BYTES) {
      let after = close + 1;
      while (isJsonWhitespace(body[after])) after += 1;
      if (body[after] !== COLON && LargeBase64.holds(body, open + 1, close)) {
        parts.push(body.subarray(copiedTo, open), Buffer.from(`${PLACEHOLDER_JSON}${values.length}"`, 'latin1'));
        values.push(new LargeBase64(body, open + 1, close));
        copiedTo = close + 1;
      }
    }
    open = body.indexOf(QUOTE, close + 1);
  }
  if (values.length === 0) return { text: body.toString('utf8'), values };
  parts.push(body.subarray(copiedTo));
  return { text: Buffer.concat(parts).toString('utf8'), values };
}

/** Puts the extracted values back into the parsed body: LargeBase64 under a `data` key, strings elsewhere. */
export function restoreLargeBase64(parsed: unknown, values: readonly LargeBase64[]): unknown {
  const restore = (value: unknown, key: string | undefined): unknown => {
    if (typeof value === 'string') {
      if (!value.startsWith(PLACEHOLDER)) return value;
      const extracted = values[Number(value.slice(PLACEHOLDER.length))];
      if (!extracted) return value;
      return key === 'data' ? extracted : extracted.toString();
    }
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index += 1) value[index] = restore(value[index], undefined);
    } else if (typeof value === 'object' && value !== null) {
      const record = value as Record<string, unknown>;
      for (const name of Object.keys(record)) record[name] = restore(record[name], name);
    }
    return value;
  };
  return restore(parsed, undefined);
}
