import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkIntakeBody, intakeBodyCheckSchema } from '../../src/modules/cases/intake-body-check.ts';
import {
  intakeBodySchema,
  intakeFieldRules,
  questionItemSchema,
  shippingAddressSchema,
} from '../../src/modules/cases/schemas.ts';
import { intakeByFormId, intakeByTitle, UNIQUE } from '../../bench/lib/bodies.ts';
import { assertProperty } from '../support/seed.ts';
import { curlExample, formForIdExample, formTitleExample, minimalBody } from './support.ts';

/**
 * The compiled check of the intake body (src/modules/cases/intake-body-check.ts) is a fast path in front of
 * the zod schema: it must pass exactly the bodies zod passes, with the value zod gives back, or the API
 * would answer differently depending on which of the two looked at a body.
 */
function assertSameVerdict(body: unknown): boolean {
  const fast = checkIntakeBody(body);
  const zod = intakeBodySchema.safeParse(body);
  assert.equal(
    fast !== undefined,
    zod.success,
    `compiled check ${fast ? 'passes' : 'refuses'} what zod ${zod.success ? 'passes' : 'refuses'}: ` +
      `${JSON.stringify(body)?.slice(0, 500)}${zod.success ? '' : `\nzod: ${JSON.stringify(zod.error.issues[0])}`}`,
  );
  if (fast) assert.deepStrictEqual(fast, zod.data);
  return zod.success;
}

/** A body with every field the schema knows, each valid. */
function richBody(): Record<string, unknown> {
  return {
    ...formTitleExample(),
    password: 'correct horse battery staple',
    languagePreferences: ['en', 'es-MX'],
    formId: '00000000-0000-4000-8000-000000000000',
    paymentAmount: '19.99',
    paymentDescription: 'First month',
    stripeSetupId: 'seti_123abc',
    stripePaymentId: '',
    nmiPaymentToken: 'tok_abc-123',
    productBundleId: '0b5f1c2e-8d3a-4c6b-9e7f-1a2b3c4d5e6f',
    promoCodes: ['SAVE10', ' '],
    promoCode: 'WELCOME',
    someUnknownField: { kept: true },
    questions: [
      ...(formTitleExample().questions as object[]),
      {
        questionId: null,
        question: 'Pick some',
        type: 'MULTISELECT',
        required: false,
        phi: true,
        hint: 'hint',
        placeholder: '',
        options: ['a', 'b'],
        answer: ['a'],
        extra: 1,
      },
    ],
  };
}

const bodies: Record<string, () => unknown> = {
  'the seed page form-title example': formTitleExample,
  'the seed page curl example': curlExample,
  'a form made for form-id mode': () => formForIdExample(),
  'the minimal body of the tests': () => minimalBody(),
  'a body with every field': richBody,
  'the benchmark form-title body': () => JSON.parse(intakeByTitle('Bench form').split(UNIQUE).join('x')),
  'the benchmark form-id body': () =>
    JSON.parse(
      intakeByFormId('00000000-0000-4000-8000-000000000000', [
        { questionId: '00000000-0000-4000-8000-000000000001', question: 'What is your current weight?' },
      ])
        .split(UNIQUE)
        .join('x'),
    ),
  'a non-US address with any state': () => ({
    ...minimalBody(),
    shippingAddress: {
      addressLine1: '1 Rue',
      city: 'Paris',
      state: 'Île-de-France',
      country: 'fr',
      postalCode: '75001',
    },
  }),
};

/** Strings at each length limit of the schema, one unit over, and in characters outside the BMP (2 units each). */
const LIMITS = [2, 10, 20, 64, 100, 200, 254, 255, 500, 1000, 1024, 2000];
const boundaryStrings = LIMITS.flatMap((length) => [
  'x'.repeat(length),
  'x'.repeat(length + 1),
  '😀'.repeat(Math.ceil(length / 2)),
  '😀'.repeat(Math.floor(length / 2) + 1),
  ' '.repeat(length),
  `${'a'.repeat(Math.max(1, length - 5))}@b.co`, // an email of exactly this length (from 6)
  `${'a'.repeat(Math.max(1, length - 4))}@b.co`,
]);

/** Values a client might send in any field: the rules' edge cases, every JSON type, and random text. */
const anyValue = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '\t\n',
    '\u00a0',
    '\ufeff',
    null,
    true,
    false,
    0,
    -1,
    0.5,
    19.999,
    1_000_000,
    1_000_000.01,
    '19.99',
    ' 12.34 ',
    '12.345',
    '1e3',
    '-5',
    'US',
    'us',
    'Us',
    'DC',
    ' dc ',
    'XX',
    'U S',
    'MALE',
    'female',
    ' Male ',
    'other',
    'OPEN',
    'abandoned',
    'closed',
    '1990-01-15',
    '1990-02-30',
    '1899-12-31',
    '1900-01-01',
    '2999-01-01',
    '+1234567890',
    '1234567890',
    'en',
    'en-US',
    'e',
    'not a code',
    'seti_abc',
    'pi_abc',
    'pi_3SG0o8_secret_abc',
    'tok-123_ABC',
    'a@b.co',
    'John.Doe@Example.COM',
    'not-an-email',
    '0b5f1c2e-8d3a-4c6b-9e7f-1a2b3c4d5e6f',
    'TEXT',
    [],
    {},
    ['en'],
    ['a', 'b'],
    [1],
    [null],
  ),
  fc.constantFrom(...boundaryStrings),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.jsonValue({ maxDepth: 2 }),
  fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom(...boundaryStrings)), { maxLength: 25 }),
);

const bodyFields = Object.keys(intakeBodySchema.shape);
const questionFields = Object.keys(questionItemSchema.shape);
const addressFields = Object.keys(shippingAddressSchema.shape);

/** Where a change is made: a top-level field, an address field, a question's field, or an array element. */
const target = fc.oneof(
  fc.constantFrom(...bodyFields, 'someUnknownField').map((field) => [field]),
  fc.constantFrom(...addressFields, 'extra').map((field) => ['shippingAddress', field]),
  fc
    .tuple(fc.nat({ max: 7 }), fc.constantFrom(...questionFields, 'extra'))
    .map(([index, field]) => ['questions', index, field]),
  fc.tuple(fc.nat({ max: 7 }), fc.nat({ max: 3 })).map(([index, option]) => ['questions', index, 'options', option]),
  fc.tuple(fc.constantFrom('languagePreferences', 'promoCodes', 'questions'), fc.nat({ max: 3 })),
);
const change = fc.record({ path: target, remove: fc.boolean(), value: anyValue });

/** The body with one change made: a value set (parents made as needed), or removed. */
function changed(body: unknown, path: (string | number)[], remove: boolean, value: unknown): unknown {
  const copy = structuredClone(body) as Record<string | number, unknown>;
  let parent: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) {
    if (typeof parent[key] !== 'object' || parent[key] === null) parent[key] = typeof key === 'number' ? [] : {};
    parent = parent[key] as Record<string | number, unknown>;
  }
  const last = path.at(-1)!;
  if (remove) delete parent[last];
  else parent[last] = value;
  return copy;
}

describe('the compiled check of the intake body', () => {
  it('knows every field of the zod schema, and of its question and address objects', () => {
    const { properties } = intakeBodyCheckSchema;
    assert.deepEqual(Object.keys(properties).sort(), [...bodyFields].sort());
    assert.deepEqual(Object.keys(properties.shippingAddress.properties).sort(), [...addressFields].sort());
    // answer takes any value: the check has nothing to say about it.
    assert.deepEqual(
      Object.keys(properties.questions.items.properties).sort(),
      questionFields.filter((field) => field !== 'answer').sort(),
    );
  });

  for (const [name, body] of Object.entries(bodies)) {
    it(`passes ${name}, with the value zod gives back`, () => {
      assert.ok(checkIntakeBody(body()), 'the compiled check refused it');
      assert.equal(assertSameVerdict(body()), true);
    });
  }

  it('strips unknown fields of the shipping address as zod does, and keeps the others', () => {
    const body = { ...minimalBody(), shippingAddress: { ...(richBody().shippingAddress as object), note: 'x' } };
    const value = checkIntakeBody(body)!;
    assert.equal('note' in (value.shippingAddress as object), false);
    assert.equal('addressLine2' in (value.shippingAddress as object), true);
    assert.deepEqual((body.shippingAddress as { note: string }).note, 'x', 'the request body itself is not changed');
    assertSameVerdict(body);
  });

  it('gives the same verdict as zod at every length limit and edge of each field', () => {
    let passed = 0;
    const paths = [
      ...bodyFields.map((field) => [field]),
      ...addressFields.map((field) => ['shippingAddress', field]),
      ...questionFields.map((field) => ['questions', 0, field]),
      ['questions', 0, 'options', 0],
      ['languagePreferences', 0],
      ['promoCodes', 0],
    ];
    for (const path of paths) {
      for (const value of [...boundaryStrings, null, '', ' ', 5, true, [], {}]) {
        if (assertSameVerdict(changed(richBody(), path, false, value))) passed += 1;
      }
    }
    assert.ok(passed > 100, `only ${passed} of the changed bodies were valid: the test says little`);
  });

  it('gives the same verdict as zod at every array limit', () => {
    const items = (count: number, item: (index: number) => unknown) =>
      Array.from({ length: count }, (_, index) => item(index));
    const arrays: [(string | number)[], number, (index: number) => unknown][] = [
      [['languagePreferences'], 20, () => 'en'],
      [['promoCodes'], 20, (index) => `CODE${index}`],
      [['questions', 0, 'options'], 200, (index) => `option ${index}`],
      [['questions'], 500, (index) => ({ question: `Question ${index}`, type: 'TEXT', required: false })],
    ];
    for (const [path, limit, item] of arrays) {
      assert.equal(
        assertSameVerdict(changed(richBody(), path, false, items(limit, item))),
        true,
        `${path} at ${limit}`,
      );
      assert.equal(assertSameVerdict(changed(richBody(), path, false, items(limit + 1, item))), false, `${path} over`);
    }
  });

  it('gives the same verdict and value as zod for bodies changed at random, 300 of each verdict at least', async () => {
    // Both verdicts must be well represented, or the property says little. About one changed body in ten
    // passes, so rounds of 1,000 bodies (each round its own seed) run until each verdict has 300: the count
    // holds by construction, and the cap only stops a generator that has stopped making one of them.
    let passed = 0;
    let refused = 0;
    for (let round = 0; passed < 300 || refused < 300; round++) {
      assert.ok(round < 30, `${passed} passed and ${refused} refused after ${round} rounds of 1,000`);
      await assertProperty(
        `intake body check, round ${round}`,
        fc.property(
          fc.constantFrom(...Object.values(bodies)),
          fc.array(change, { minLength: 1, maxLength: 3 }),
          (base, changes) => {
            const body = changes.reduce(
              (current, { path, remove, value }) => changed(current, path, remove, value),
              base(),
            );
            if (assertSameVerdict(body)) passed += 1;
            else refused += 1;
          },
        ),
        { numRuns: 1000 },
      );
    }
  });

  it('refuses what is not an object with questions', () => {
    for (const body of [
      null,
      [],
      'text',
      5,
      {},
      { ...minimalBody(), questions: [] },
      { ...minimalBody(), questions: [5] },
    ]) {
      assert.equal(checkIntakeBody(body), undefined);
      assertSameVerdict(body);
    }
  });
});

describe('the date of birth rule', () => {
  it('takes today as the last valid date, and a new day from its first millisecond', (context) => {
    context.mock.timers.enable({ apis: ['Date'], now: Date.UTC(2031, 2, 1, 23, 59, 59, 999) });
    assert.equal(intakeFieldRules.dateOfBirth('2031-03-01'), true);
    assert.equal(intakeFieldRules.dateOfBirth('2031-03-02'), false);
    context.mock.timers.tick(1);
    assert.equal(intakeFieldRules.dateOfBirth('2031-03-02'), true);
    assert.equal(intakeFieldRules.dateOfBirth('2031-03-03'), false);
    assert.equal(intakeFieldRules.dateOfBirth('1900-01-01'), true);
    assert.equal(intakeFieldRules.dateOfBirth('1899-12-31'), false);
    assert.equal(intakeFieldRules.dateOfBirth('2031-02-29'), false);
    assert.equal(intakeFieldRules.dateOfBirth(''), true);
    // A clock set back is followed too.
    context.mock.timers.setTime(Date.UTC(2031, 1, 27, 12));
    assert.equal(intakeFieldRules.dateOfBirth('2031-02-28'), false);
  });
});
