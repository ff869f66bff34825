/**
 * The published pages' examples, verbatim, on the operations they document (the Case Create and Case Payments
 * pages), so the reference's "try it" sends a request that works on the first click. They are added to the
 * generated document here because the route schemas do not carry examples.
 */

type Examples = Record<string, { summary: string; description?: string; value: unknown }>;

interface OperationExamples {
  request?: Examples;
  responses?: Record<string, Examples>;
}

/** The Case Create page's form-title request; the benchmark's intake bodies (bench/lib/bodies.ts) start from it. */
export const caseCreateFormTitle = {
  firstName: 'John',
  lastName: 'Doe',
  email: 'john.doe@example.com',
  dob: '1990-01-15',
  gender: 'male',
  phoneNumber: '+1234567890',
  status: 'OPEN',
  idempotencyKey: 'unique-case-key-123',
  formTitle: 'Patient Intake Form',
  formDescription: 'Initial patient information collection',
  shippingAddress: {
    addressLine1: '1600 Pennsylvania Avenue NW',
    addressLine2: '',
    city: 'Washington',
    state: 'DC',
    country: 'US',
    postalCode: '20500',
  },
  questions: [
    { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs', phi: false },
    { question: 'Do you have any allergies?', type: 'BOOLEAN', required: true, answer: 'true' },
    {
      question: 'Select your preferred visit type',
      type: 'SINGLESELECT',
      required: false,
      options: ['Video Call', 'Phone Call', 'In Person'],
      answer: 'Video Call',
    },
    {
      question: 'When did your symptoms start?',
      type: 'DATERANGE',
      required: false,
      answer: 'January 1, 2024 - indefinite',
    },
    {
      question: 'Select your dietary preferences',
      type: 'MULTISELECT',
      required: false,
      options: ['Weight-loss Supplements', 'Dieting', 'Exercise', 'Nutrition Counseling'],
      answer: '["Weight-loss Supplements", "Dieting"]',
    },
  ],
};

const caseCreateFormId = {
  firstName: 'Jane',
  lastName: 'Smith',
  email: 'jane.smith@example.com',
  dob: '1985-05-20',
  gender: 'female',
  phoneNumber: '+1987654321',
  idempotencyKey: 'unique-case-key-456',
  shippingAddress: {
    addressLine1: '1600 Pennsylvania Avenue NW',
    addressLine2: '',
    city: 'Washington',
    state: 'DC',
    country: 'US',
    postalCode: '20500',
  },
  formId: '550e8400-e29b-41d4-a716-446655440000',
  questions: [
    { questionId: '550e8400-e29b-41d4-a716-446655440001', answer: '140 lbs' },
    { questionId: '550e8400-e29b-41d4-a716-446655440002', answer: 'false' },
    { questionId: '550e8400-e29b-41d4-a716-446655440003', answer: 'SYNC_VIDEO' },
    { questionId: '550e8400-e29b-41d4-a716-446655440004', answer: { startDate: '2025-08-05', endDate: null } },
    { questionId: '550e8400-e29b-41d4-a716-446655440005', answer: ['Weight-loss Supplements', 'Dieting'] },
  ],
};

/** A case as the case detail and the case list show it (docs/api/cases.md), with the Case Create example's answers. */
const caseDetailExample = {
  id: 'e1e3f5c1-6f12-4e0d-a442-7a9ff31319da',
  organizationId: '5b0c7a8e-2f1d-4c3b-9a6e-8d7f6e5c4b3a',
  type: null,
  title: null,
  status: 'OPEN',
  shortId: 'ADA-TOSXM',
  createdAt: '2026-05-06T12:54:10.287Z',
  updatedAt: '2026-05-06T12:54:10.287Z',
  assignedAt: null,
  inProgressAt: null,
  closedAt: null,
  closedBy: null,
  inProgressBy: null,
  isArchived: false,
  isEscalated: false,
  isImported: false,
  referralCode: null,
  archiveReason: null,
  archiveNote: null,
  productBundleId: null,
  productBundle: null,
  submitter: {
    id: '0f6d3c2b-1a9e-4d8c-b7f6-5e4d3c2b1a09',
    email: 'john.doe@example.com',
    firstName: 'John',
    lastName: 'Doe',
    dob: '1990-01-15',
    gender: 'MALE',
    phoneNumber: '+1234567890',
  },
  assignedTo: null,
  assignedBy: null,
  assignees: [],
  responses: [
    {
      id: '7c6b5a49-3827-4160-9f8e-7d6c5b4a3928',
      createdAt: '2026-05-06T12:54:10.287Z',
      form: {
        id: '3e2d1c0b-9a87-4654-8321-0fedcba98765',
        name: 'Patient Intake Form',
        description: 'Initial patient information collection',
      },
      responses: [
        {
          id: '9a8b7c6d-5e4f-4321-8fed-cba987654321',
          question: {
            id: '1b2c3d4e-5f60-4718-829a-0b1c2d3e4f50',
            index: 0,
            type: 'TEXT',
            text: 'What is your current weight?',
            isPHI: false,
            required: true,
            options: [],
            hint: null,
            placeholder: null,
          },
          answer: '150 lbs',
          text: '150 lbs',
        },
      ],
    },
  ],
  decisions: [],
  comments: [],
  attachments: [],
  payments: [],
};

const EXAMPLES: Record<string, OperationExamples> = {
  // The Patient Get Case Id page, verbatim.
  'get /api/v1/customer-latest-case-id': {
    responses: {
      '200': {
        found: {
          summary: 'The latest case of the customer',
          value: { status: 200, success: true, case: { id: 'e1e3f5c1-6f12-4e0d-a442-7a9ff31319da' } },
        },
      },
      '400': { noEmail: { summary: 'No email', value: { error: 'Email id not provided!' } } },
      '401': {
        noKey: { summary: 'No cv-api-key', value: { error: 'Secret key not provided!' } },
        badKey: { summary: 'Unknown key', value: { error: 'Organization with [CV-Api-Key-Hash] not found!' } },
      },
      '404': { noCase: { summary: 'No case', value: { error: 'No Case found for provided email!' } } },
    },
  },
  'get /api/v1/customer-case-detail': {
    responses: {
      '200': {
        found: {
          summary: 'A case with one form response',
          value: { status: 200, success: true, caseDetail: caseDetailExample },
        },
      },
      '404': {
        notFound: { summary: 'Unknown case', value: { status: 404, success: false, error: 'Case not found' } },
      },
    },
  },
  'get /api/v1/cases': {
    responses: {
      '200': {
        page: {
          summary: 'A page of one case, more to follow',
          value: {
            status: 200,
            success: true,
            cases: [caseDetailExample],
            pageInfo: {
              cursor: { start: caseDetailExample.id, end: caseDetailExample.id },
              hasNextPage: true,
              hasPreviousPage: false,
            },
          },
        },
      },
      '400': {
        range: {
          summary: 'Range too long',
          value: {
            status: 400,
            success: false,
            error: 'The range from startTime to endTime must not exceed 60 days',
          },
        },
      },
    },
  },
  // The case action page (CHANGE_CASE_STATUS): its visible 200, and the two messages it cuts off, as sent.
  'post /api/v1/cases/{caseId}': {
    responses: {
      '200': {
        opened: {
          summary: 'OPEN',
          value: { status: 200, success: true, message: 'Case opened successfully' },
        },
        closed: {
          summary: 'CLOSE',
          value: { status: 200, success: true, message: 'Case closed successfully' },
        },
        reopened: {
          summary: 'REOPEN',
          value: { status: 200, success: true, message: 'Case reopened successfully' },
        },
      },
    },
  },
  // Patient Add Form to Case: a case of another organization, or none, is refused as not valid.
  'post /api/v1/customer-dynamic-case-form': {
    responses: {
      '200': {
        added: {
          summary: 'The form response added to the case',
          value: {
            status: 200,
            success: true,
            data: {
              caseId: 'e1e3f5c1-6f12-4e0d-a442-7a9ff31319da',
              formResponseId: '0b6f1f8e-3c1d-4d59-9a63-5d0f2f4a7c21',
            },
          },
        },
      },
      '400': {
        invalidCase: {
          summary: 'Unknown case',
          value: { status: 400, success: false, error: 'Provided case is not valid' },
        },
        noAnswer: {
          summary: 'No question answered',
          value: { status: 400, success: false, error: "Case Form can't be Submitted." },
        },
      },
    },
  },
  // The UPDATE_EMAIL page, verbatim.
  'post /api/v1/users': {
    responses: {
      '200': {
        emailUpdated: {
          summary: 'UPDATE_EMAIL',
          value: {
            status: 200,
            success: true,
            message: 'Email updated successfully',
            data: {
              user: {
                email: 'doe.john@example.com',
                firstName: 'John',
                lastName: 'Doe',
                dob: '2000-10-01',
                phoneNumber: '+11111111111',
                gender: 'MALE',
                address: '1 ABC St',
                address2: 'Apt 3',
                city: 'NYC',
                state: 'NY',
                country: 'US',
                postalCode: '10101',
              },
            },
          },
        },
      },
      '400': {
        noUser: {
          summary: 'Unknown user',
          value: { status: 400, success: false, message: 'User john.doe@example.com does not exist' },
        },
      },
    },
  },
  'post /api/v1/dynamic-case': {
    request: {
      formTitle: {
        summary: 'Form Title Based Request',
        description:
          'Creates the form "Patient Intake Form" (or reuses it) and a case answering it. A second send with the ' +
          'same idempotencyKey answers 409: change the key to create another case.',
        value: caseCreateFormTitle,
      },
      formId: {
        summary: 'Form ID Based Request',
        description:
          "Answers an existing form by its questions' ids: take formId and each questionId from GET /api/v1/forms " +
          "(the ids below are the published page's placeholders, so this example answers 404 as it stands).",
        value: caseCreateFormId,
      },
    },
    responses: {
      '200': {
        created: {
          summary: 'Case created successfully',
          value: {
            success: true,
            data: {
              caseId: '550e8400-e29b-41d4-a716-446655440000',
              formResponseId: '550e8400-e29b-41d4-a716-446655440001',
            },
          },
        },
      },
      '400': {
        validation: {
          summary: 'Validation Error',
          value: { success: false, error: 'Validation failed: email: Invalid email address' },
        },
        missingAnswer: {
          summary: 'Missing Required Answer',
          value: {
            success: false,
            error:
              "Question 'What is your age?' with questionId: 550e8400-e29b-41d4-a716-446655440000: Answer is required",
          },
        },
      },
      '401': { authentication: { summary: 'Authentication Error', value: { status: 401, error: 'Invalid request' } } },
      '409': {
        conflict: {
          summary: 'Conflict',
          value: {
            status: 409,
            success: false,
            code: 'IDEMPOTENCY_ERROR',
            description: 'A record with the provided idempotencyKey already exists for this organization.',
          },
        },
      },
    },
  },
  'post /api/v1/cases/{caseId}/payments': {
    request: {
      preauthorize: {
        summary: 'Preauthorized payment',
        value: {
          amount: 100.0,
          status: 'UNPAID',
          preauthorize: true,
          description: 'Creating preauthorized payment for DEMO',
        },
      },
    },
    responses: {
      '200': {
        created: {
          summary: 'Case payment created successfully',
          value: {
            success: true,
            message: 'Case payment created successfully',
            data: {
              result: {
                paymentId: '9d2461f0-54b8-43dd-9507-e3143d4a50a1',
                status: 'UNPAID',
                amount: 100,
                description: 'Creating unpaid case payment',
                createdAt: '2026-05-06T12:54:10.287Z',
              },
            },
          },
        },
      },
      '400': {
        validation: {
          summary: 'Validation Error',
          value: { success: false, message: 'Amount must be a positive number' },
        },
      },
      '401': { unauthorized: { summary: 'Unauthorized', value: { status: 401, error: 'Invalid API key' } } },
    },
  },
  'post /api/v1/payments/intent': {
    request: {
      discounted: {
        summary: 'A PaymentIntent for $45.00 (10% off $50 with SAVE10)',
        value: {
          amount: 4500,
          paymentMethodTypes: ['card', 'klarna'],
          metadata: { email: 'testemail@example.com', phone: '+1404567890' },
        },
      },
    },
    responses: {
      '200': {
        initiated: {
          summary: 'payment Intent initiated successfully',
          value: {
            status: 200,
            success: true,
            message: 'payment Intent initiated successfully',
            data: { paymentIntentSecret: 'pi_3SG0o8GkkQS2eXzh0BKpSaq0_secret_CBrwqmT726jzfcnvCt0qBcS9e' },
          },
        },
      },
    },
  },
};

interface MediaObject {
  examples?: Examples;
}
interface OperationObject {
  requestBody?: { content?: Record<string, MediaObject> };
  responses?: Record<string, { content?: Record<string, MediaObject> }>;
}

/** Puts each operation's published examples under its JSON media types (a missing operation is skipped). */
export function addPublishedExamples<T extends Record<string, unknown>>(document: T): T {
  const paths = document.paths as Record<string, Record<string, OperationObject>> | undefined;
  for (const [key, examples] of Object.entries(EXAMPLES)) {
    const [method = '', path = ''] = key.split(' ');
    const operation = paths?.[path]?.[method];
    if (!operation) continue;
    const json = operation.requestBody?.content?.['application/json'];
    if (json && examples.request) json.examples = examples.request;
    for (const [status, byName] of Object.entries(examples.responses ?? {})) {
      const media = operation.responses?.[status]?.content?.['application/json'];
      if (media) media.examples = byName;
    }
  }
  return document;
}
