/**
 * Long base64 strings of a JSON body kept as body bytes (src/http/large-base64.ts): the body parsed this
 * way means exactly what JSON.parse makes of it, a swapped string decodes to the bytes Buffer.from gives,
 * and nothing else (short strings, escaped or non-base64 text, keys, a client's lookalike) is swapped.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  extractLargeBase64,
  LARGE_STRING_BYTES,
  LargeBase64,
  restoreLargeBase64,
} from '../../src/http/large-base64.ts';

function parse(text: string): unknown {
  const { text: skeleton, values } = extractLargeBase64(Buffer.from(text, 'utf8'));
  return restoreLargeBase64(JSON.parse(skeleton), values);
}

/** The parsed body with every LargeBase64 turned back into its text: must equal JSON.parse's answer. */
const asPlainJson = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

describe('large base64 strings in JSON bodies', () => {
  const base64Of = (bytes: number, encoding: 'base64' | 'base64url' = 'base64') =>
    randomBytes(bytes).toString(encoding);

  it('swaps long base64 under a data key and decodes it to the same bytes, whatever its length and padding', () => {
    // Byte counts around the slice size (48 KiB characters = 36 KiB bytes), with 0, 1 and 2 padding characters.
    for (const bytes of [LARGE_STRING_BYTES, 36 * 1024, 36 * 1024 + 1, 72 * 1024 + 2, 200 * 1024 + 1]) {
      for (const encoding of ['base64', 'base64url'] as const) {
        const text = base64Of(bytes, encoding);
        const body = JSON.stringify({ questions: [{ answer: [{ name: 'a.bin', data: text }] }], note: 'x' });
        const parsed = parse(body) as { questions: [{ answer: [{ data: unknown }] }] };
        const data = parsed.questions[0].answer[0].data;
        assert.ok(data instanceof LargeBase64, `${bytes} bytes as ${encoding}`);
        assert.equal(data.length, text.length);
        assert.equal(data.toString(), text);
        assert.ok(data.decode().equals(Buffer.from(text, 'base64')), `${bytes} bytes as ${encoding} decode`);
        assert.deepEqual(asPlainJson(parsed), JSON.parse(body));
      }
    }
  });

  it('gives long base64 elsewhere back as the string it was', () => {
    const text = base64Of(60 * 1024);
    const body = JSON.stringify({ notes: text, list: [text, 'short'], data: { inner: text } });
    const parsed = parse(body) as { notes: unknown; list: unknown[]; data: { inner: unknown } };
    assert.equal(parsed.notes, text);
    assert.deepEqual(parsed.list, [text, 'short']);
    assert.equal(parsed.data.inner, text);
  });

  it('leaves short strings, escaped text, non-base64 text, padding inside and keys as JSON.parse reads them', () => {
    const long = 'A'.repeat(LARGE_STRING_BYTES + 8);
    const bodies = [
      { data: 'QUJD' }, // short
      { data: `${long}\n${long}` }, // escaped (a JSON \n): MIME-style lines
      { data: `${long}$` }, // a character outside base64
      { data: `${long}==${long}` }, // padding in the middle
      { data: `${long}é` }, // non-ASCII
      { data: `${long}"quoted"${long}` }, // escaped quotes
      { [long]: 'a long key' },
    ];
    for (const value of bodies) {
      const body = JSON.stringify(value);
      const parsed = parse(body);
      assert.deepEqual(parsed, JSON.parse(body));
      assert.ok(!JSON.stringify(parsed).includes('care360-large-base64'), body.slice(0, 40));
    }
  });

  it('keeps a string that only looks like a placeholder, and unwraps nothing a client wrote', () => {
    const body = JSON.stringify({ data: '\u0000care360-large-base64:0000:0', long: 'B'.repeat(LARGE_STRING_BYTES) });
    assert.deepEqual(parse(body), JSON.parse(body));
  });

  it('leaves a malformed body malformed', () => {
    const long = 'A'.repeat(LARGE_STRING_BYTES);
    for (const text of [`{"data":"${long}"`, `{"data":"${long}" "x":1}`, `{"data":"${long}`]) {
      const { text: skeleton } = extractLargeBase64(Buffer.from(text));
      assert.throws(() => JSON.parse(skeleton), SyntaxError, text.slice(-10));
    }
  });
});
