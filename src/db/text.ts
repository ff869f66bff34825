/** Half of a UTF-16 surrogate pair without its other half: not text, and jsonb refuses its escape. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why PostgreSQL's text and jsonb cannot hold `value`, U+0000 or a lone surrogate (as the intake words it), or
 * undefined when they can. Fields that are stored or sent on are checked with it before anything is written.
 */
export function unstorableText(value: string): string | undefined {
  if (value.includes('\u0000')) return 'Must not contain NUL characters';
  if (LONE_SURROGATE.test(value)) return 'Must be valid Unicode text';
  return undefined;
}
