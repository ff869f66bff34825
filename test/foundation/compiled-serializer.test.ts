import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { serializerCompiler } from 'fastify-type-provider-zod';
import type { FastifyRouteSchemaDef } from 'fastify/types/schema.js';
import { z } from 'zod';
import { compiledSerializerFor } from '../../src/http/compiled-serializer.ts';
import { envelopes } from '../../src/http/envelopes.ts';
import { intakeSuccessSchema } from '../../src/modules/cases/schemas.ts';

const route = (schema: z.ZodType, httpStatus: string) =>
  ({ schema, method: 'POST', url: '/api/v1/dynamic-case', httpStatus }) as FastifyRouteSchemaDef<z.ZodType>;

describe('the compiled serializer of hot responses', () => {
  const compiled = compiledSerializerFor(['200'])(route(intakeSuccessSchema, '200'));
  const byZod = serializerCompiler(route(intakeSuccessSchema, '200'));

  it("writes the intake's success body exactly as zod's serializer does", () => {
    const bodies = [
      { success: true, data: { caseId: randomUUID(), formResponseId: randomUUID() } },
      { success: true, data: { caseId: randomUUID(), formResponseId: randomUUID(), paymentId: randomUUID() } },
      { success: true, data: { caseId: randomUUID(), formResponseId: randomUUID(), paymentId: 'pay "quoted" \\ é' } },
    ];
    for (const body of bodies) assert.equal(compiled(body), byZod(body));
  });

  it('lets no field leave that the schema does not list', () => {
    const body = {
      success: true,
      secret: 'leak',
      data: { caseId: randomUUID(), formResponseId: randomUUID(), patientEmail: 'leak@example.com' },
    };
    const written = compiled(body);
    assert.equal(written, byZod(body));
    assert.doesNotMatch(written, /leak/);
  });

  it('leaves the statuses it was not given to zod', () => {
    const other = compiledSerializerFor(['200'])(route(envelopes.intake.errorSchema, '400'));
    assert.equal(
      other({ success: false, error: 'Validation failed: x: y' }),
      '{"success":false,"error":"Validation failed: x: y"}',
    );
    // zod checks what it serializes: a body that does not fit its schema is refused, as before.
    assert.throws(() => other({ success: 'no', error: 5 }));
  });
});
