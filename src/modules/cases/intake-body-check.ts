import { _, Ajv, type AnySchemaObject, type KeywordCxt } from 'ajv';
import type { FastifyRouteSchemaDef } from 'fastify/types/schema.js';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { paymentFieldRules } from './intake-payments.ts';
import { intakeBodySchema, intakeFieldRules, LANGUAGE_CODE, shippingAddressSchema } from './schemas.ts';

/**
 * The fast path of POST /api/v1/dynamic-case's body validation. The zod schema (schemas.ts) is the contract
 * and says why a body is refused, but walking it costs about four times what a compiled check costs, on
 * every intake. So a body is first given to this check, intakeBodySchema's rules as a JSON Schema compiled
 * by Ajv (the validator Fastify itself uses), with the rules types and lengths cannot say applied by the
 * very functions the zod schema applies (intakeFieldRules, paymentFieldRules). A body it passes is valid and
 * is taken as zod would give it back; any other body goes to zod, whose first issue is the error, word for
 * word as before. Whatever this check passes, zod passes with the same value:
 * test/cases/intake-body-check.test.ts holds it to that over generated bodies. A field the check does not
 * know is one it lets through (unknown fields are ignored), so a field added to the zod schema is added here.
 */

const rules: Record<string, (value: never) => boolean> = {
  ...intakeFieldRules,
  ...paymentFieldRules,
  email: (value: string) => z.regexes.email.test(value),
  languageCode: (value: string) => LANGUAGE_CODE.test(value),
};

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true });
// Required text is held to its length in UTF-16 code units (String.length, the zod schema's refinement);
// zod's own .max() and Ajv's maxLength both count code points (a surrogate pair is one).
ajv.addKeyword({
  keyword: 'maxUnits',
  type: 'string',
  schemaType: 'number',
  code: (context: KeywordCxt) => context.fail(_`${context.data}.length > ${context.schema}`),
});
/** A JSON value's type, as JSON Schema's `type` names it. */
const jsonType = (value: unknown) =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value === 'number' ? 'number' : typeof value;

// One of the rules above, by name, applied to a value of a type its schema allows other than null (a nullish
// field's null is valid). Ajv may run a keyword before it checks the type, so the type is checked here too.
ajv.addKeyword({
  keyword: 'rule',
  schemaType: 'string',
  compile: (name: string, parentSchema: AnySchemaObject) => {
    const rule = rules[name];
    if (!rule) throw new Error(`no intake rule named ${name}`);
    const types = new Set<string>([parentSchema.type as string | string[]].flat());
    types.delete('null');
    return (value: unknown) => (value === null ? true : types.has(jsonType(value)) && rule(value as never));
  },
});

const requiredText = (max: number) => ({ type: 'string', maxUnits: max, rule: 'notBlank' });
const optionalText = (max: number) => ({ type: ['string', 'null'], maxLength: max });
const optionalString = { type: ['string', 'null'] };
const optionalBoolean = { type: ['boolean', 'null'] };
const optionalChecked = (rule: string) => ({ type: ['string', 'null'], rule });

/** What zod keeps of a shipping address: its schema's own fields. */
const SHIPPING_ADDRESS_FIELDS = Object.keys(shippingAddressSchema.shape);

/** intakeBodySchema's rules as a JSON Schema (the properties name the same fields; tests hold them to it). */
export const intakeBodyCheckSchema = {
  type: 'object',
  required: ['firstName', 'lastName', 'email', 'questions'],
  properties: {
    firstName: requiredText(100),
    lastName: requiredText(100),
    email: { type: 'string', maxLength: 254, rule: 'email' },
    dob: optionalChecked('dateOfBirth'),
    gender: optionalChecked('gender'),
    phoneNumber: optionalChecked('phoneNumber'),
    password: optionalText(1024),
    shippingAddress: {
      type: ['object', 'null'],
      required: ['addressLine1', 'city', 'state', 'country', 'postalCode'],
      properties: {
        addressLine1: requiredText(200),
        addressLine2: optionalText(200),
        city: requiredText(100),
        state: requiredText(100),
        country: { ...requiredText(2), rule: 'countryCode' },
        postalCode: requiredText(20),
      },
      rule: 'usShippingState',
    },
    languagePreferences: { type: ['array', 'null'], maxItems: 20, items: { type: 'string', rule: 'languageCode' } },
    status: optionalChecked('caseStatus'),
    idempotencyKey: optionalText(255),
    formTitle: optionalText(200),
    formDescription: optionalText(2000),
    formId: optionalString,
    questions: {
      type: 'array',
      minItems: 1,
      maxItems: 500,
      items: {
        type: 'object',
        properties: {
          questionId: optionalString,
          question: optionalString,
          type: optionalString,
          required: optionalBoolean,
          phi: optionalBoolean,
          hint: optionalText(1000),
          placeholder: optionalText(1000),
          options: { type: ['array', 'null'], maxItems: 200, items: { type: 'string', maxLength: 500 } },
        },
      },
    },
    paymentAmount: { type: ['number', 'string', 'null'], rule: 'amount' },
    paymentDescription: optionalText(1000),
    stripeSetupId: optionalChecked('stripeSetupId'),
    stripePaymentId: optionalChecked('stripePaymentId'),
    nmiPaymentToken: optionalChecked('nmiPaymentToken'),
    productBundleId: optionalChecked('productBundleId'),
    promoCodes: { type: ['array', 'null'], maxItems: 20, items: { type: 'string', maxLength: 64 } },
    promoCode: optionalText(64),
  },
};

const passes = ajv.compile<Record<string, unknown>>(intakeBodyCheckSchema);

/**
 * A body the check passes, as zod gives it back: the same fields (unknown ones kept, as the schema is loose),
 * except the shipping address, whose schema keeps only its own fields.
 */
function asParsed(body: Record<string, unknown>): Record<string, unknown> {
  const address = body.shippingAddress as Record<string, unknown> | null | undefined;
  if (!address) return body;
  const known: Record<string, unknown> = {};
  for (const field of SHIPPING_ADDRESS_FIELDS) if (field in address) known[field] = address[field];
  return { ...body, shippingAddress: known };
}

/** The body's value when the compiled check passes it, else undefined (then ask zod). */
export function checkIntakeBody(body: unknown): Record<string, unknown> | undefined {
  return passes(body) ? asParsed(body) : undefined;
}

/**
 * The intake route's validator compiler: the compiled check first, zod for a body it does not pass. Fastify
 * calls it once per part of the request the route's schema describes, with that part's zod schema (typed by
 * Fastify as the route's whole schema).
 */
export function intakeValidatorCompiler<RouteSchema>(route: FastifyRouteSchemaDef<RouteSchema>) {
  const byZod = validatorCompiler(route as unknown as FastifyRouteSchemaDef<z.ZodType>);
  if (route.httpPart !== 'body' || (route.schema as unknown) !== intakeBodySchema) return byZod;
  return (body: unknown) => {
    const value = checkIntakeBody(body);
    return value ? { value } : byZod(body);
  };
}
