/**
 * The nesting-depth count that guards every JSON body (src/http/json-body.ts): brackets inside strings
 * never count, however the string escapes its quotes, and a long string is skipped whole.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonNestingDepth } from '../../src/http/json-body.ts';

describe('jsonNestingDepth', () => {
  it('counts arrays and objects, nested and side by side', () => {
    assert.equal(jsonNestingDepth('1'), 0);
    assert.equal(jsonNestingDepth('{}'), 1);
    assert.equal(jsonNestingDepth('{"a":[{"b":[1,2]},[3]]}'), 4);
    assert.equal(jsonNestingDepth('[[],[[]],[]]'), 3);
    assert.equal(jsonNestingDepth('['.repeat(65) + ']'.repeat(65)), 65);
  });

  it('ignores brackets inside strings, whatever the string escapes', () => {
    const cases: [unknown, number][] = [
      [{ a: '[[[[{{{{' }, 1],
      [{ a: 'say "[[[" twice' }, 1], // escaped quotes inside the string
      [{ a: 'ends in a backslash \\', b: [[1]] }, 3], // \\ before the closing quote: the string ends there
      [{ a: '\\"[[[\\\\"' }, 1], // backslash runs of odd and even length before quotes
      [['"', '[', '\\', '{'], 1],
      [{ file: 'QUJD'.repeat(100_000) + '[[[', next: [[[]]] }, 4], // a long string, skipped whole
    ];
    for (const [value, depth] of cases) {
      const text = JSON.stringify(value);
      assert.equal(jsonNestingDepth(text), depth, text.slice(0, 60));
    }
  });

  it('stops at the end of an unterminated string (the parser then refuses the body)', () => {
    assert.equal(jsonNestingDepth('{"a":[1,"[[[['), 2);
    assert.equal(jsonNestingDepth('["\\"'), 1);
  });
});
