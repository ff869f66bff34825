import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { ApiError } from './api-error.ts';
import { closingQuote } from './json-strings.ts';
import { extractLargeBase64, restoreLargeBase64 } from './large-base64.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** JSON bodies keep long base64 strings as LargeBase64 values under `data` keys (src/http/large-base64.ts). */
    largeBase64?: boolean;
  }
}

/**
 * The deepest JSON a request body may nest. Real bodies nest a few levels (an intake's answers hold
 * objects in arrays); code that walks a body recursively (NUL checks, validation) must never meet a
 * depth that exhausts the stack, which a few kilobytes of `[[[[...` would otherwise do (a 500).
 */
export const MAX_JSON_DEPTH = 64;

/**
 * The nesting depth of JSON text, counted without parsing it (brackets inside strings do not count).
 * A string is skipped to its closing quote with indexOf, so a long one (a base64 file) costs a native scan.
 */
export function jsonNestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (let index = 0; index < text.length; index += 1) {
    const character = text.charCodeAt(index);
    if (character === 0x22) {
      const close = closingQuote(text, index);
      if (close === -1) break; // unterminated: the parser refuses it
      index = close;
    } else if (character === 0x5b || character === 0x7b) {
      depth += 1;
      if (depth > deepest) deepest = depth;
    } else if (character === 0x5d || character === 0x7d) {
      depth -= 1;
    }
  }
  return deepest;
}

/** A zod schema marked `.optional()`. */
function isOptionalSchema(schema: unknown): boolean {
  return (schema as { _zod?: { optin?: string } } | undefined)?._zod?.optin === 'optional';
}

/**
 * Whether a route takes no body or an optional one: such a route reads an empty body sent with
 * `Content-Type: application/json` as no body, as browsers and fetch clients often send.
 */
function bodyIsOptional(request: FastifyRequest): boolean {
  const schema = request.routeOptions.schema?.body;
  return schema === undefined || isOptionalSchema(schema);
}

/**
 * Fastify hands a body validator `null` for a request without a body, which an optional zod object refuses; a
 * route whose body is optional validates that as no body (`undefined`).
 */
export function withOptionalBodies<Schema>(compiler: FastifySchemaCompiler<Schema>): FastifySchemaCompiler<Schema> {
  return (route) => {
    const validate = compiler(route);
    if (route.httpPart !== 'body' || !isOptionalSchema(route.schema)) return validate;
    return (data: unknown) => validate(data === null ? undefined : data);
  };
}

/** Refused by the parser, not malformed: keys that could poison a prototype (secure-json-parse). */
const PROTOTYPE_KEY = /"(?:__proto__|constructor)"\s*:/;

/**
 * Fastify's own JSON parser (prototype poisoning refused), after a nesting-depth check. Its refusals
 * read like the documented validation errors (`Validation failed: body: ...`), so a client matching on
 * that form handles them too. An empty body is no body where the route's body is optional. On a route with
 * `config.largeBase64`, long base64 strings skip the parser and come back as LargeBase64 values
 * (src/http/large-base64.ts).
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    if ((body as Buffer).length === 0 && bodyIsOptional(request)) {
      done(null, undefined);
      return;
    }
    const { text, values } = request.routeOptions.config.largeBase64
      ? extractLargeBase64(body as Buffer)
      : { text: (body as Buffer).toString('utf8'), values: [] };
    if (jsonNestingDepth(text) > MAX_JSON_DEPTH) {
      done(new ApiError(400, `Validation failed: body: Nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      return;
    }
    parseJson(request, text, (error, parsed) => {
      if (error && PROTOTYPE_KEY.test(text)) {
        // Fastify reports every refusal as malformed; say which rule this body broke.
        done(
          new ApiError(400, 'Validation failed: body: Property names __proto__ and constructor are not allowed'),
          undefined,
        );
        return;
      }
      done(error, error || values.length === 0 ? parsed : restoreLargeBase64(parsed, values));
    });
  });
}
