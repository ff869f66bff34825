import fastJsonStringify from 'fast-json-stringify';
import type { FastifyRouteSchemaDef } from 'fastify/types/schema.js';
import { serializerCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';

/**
 * A route's serializer compiler for its hot responses: the statuses named are serialized by
 * fast-json-stringify, compiled from the JSON Schema of the route's zod response schema (as Fastify serializes
 * a route whose schemas are JSON Schemas), every other status by zod as usual. Either way only the fields the
 * schema lists leave (fast-json-stringify writes nothing else), but the compiled one does not walk zod's checks
 * for every response: an intake's success body took 3.4 µs through zod and 0.2 µs compiled. For bodies the
 * route builds itself from values of known types (an id it made); test/foundation/compiled-serializer.test.ts
 * holds the two to the same output.
 */
export function compiledSerializerFor(statuses: readonly string[]) {
  return <RouteSchema>(route: FastifyRouteSchemaDef<RouteSchema>) => {
    const schema = route.schema as unknown as z.ZodType;
    if (!statuses.includes(String(route.httpStatus))) {
      return serializerCompiler(route as unknown as FastifyRouteSchemaDef<z.ZodType>);
    }
    return fastJsonStringify(z.toJSONSchema(schema, { io: 'output' }) as Parameters<typeof fastJsonStringify>[0]);
  };
}
