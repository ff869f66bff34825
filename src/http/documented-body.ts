import { z } from 'zod';

/**
 * A request body its handler checks by hand (so each 400 carries the documented message), documented as the
 * object it is: the route validates nothing with it (it accepts any JSON, as `z.unknown()`), and the OpenAPI
 * document and the typed client show `shape`, written as a zod schema beside the handler's checks. List the result
 * in src/http/openapi-components.ts to name it.
 */
export function documentedBody(shape: z.ZodType, description: string): z.ZodUnknown {
  const { $schema: _dialect, ...jsonSchema } = z.toJSONSchema(shape, { io: 'input' }) as Record<string, unknown>;
  return z.unknown().meta({ ...jsonSchema, description });
}
