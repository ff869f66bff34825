/**
 * Where the JSON string opened by the quote at `open` closes: the next quote not escaped by an odd run of
 * backslashes, found with indexOf (a native scan, however long the string). -1 when it never closes.
 * For JSON text (src/http/json-body.ts) and for a body's bytes (src/http/large-base64.ts) alike.
 */
export function closingQuote(json: string | Buffer, open: number): number {
  const codeAt = typeof json === 'string' ? (index: number) => json.charCodeAt(index) : (index: number) => json[index];
  let quote = json.indexOf('"', open + 1);
  while (quote !== -1) {
    let backslashes = 0;
    while (codeAt(quote - 1 - backslashes) === 0x5c) backslashes += 1;
    if (backslashes % 2 === 0) return quote;
    quote = json.indexOf('"', quote + 1);
  }
  return -1;
}
