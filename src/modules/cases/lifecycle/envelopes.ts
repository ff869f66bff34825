import type { Envelope } from '../../../http/envelopes.ts';

/**
 * The error bodies of the case read endpoints (docs/api/cases.md). customer-latest-case-id answers with the
 * bare `{"error": "..."}` of its published page; the case detail and the case list, whose pages show no
 * error body, answer like their sibling customer-dynamic-case-form: `{"status", "success": false, "error"}`.
 */
export const caseReadEnvelopes = {
  // GET /api/v1/customer-case-detail and GET /api/v1/cases.
  caseRead: {
    unauthorized: (reason) => ({
      status: 401,
      success: false,
      error: reason === 'missing' ? 'Secret key not provided!' : 'Invalid API key',
    }),
    error: (status, message) => ({ status, success: false, error: message }),
  },
  // GET /api/v1/customer-latest-case-id (Patient Get Case Id page).
  latestCaseId: {
    unauthorized: (reason) => ({
      error: reason === 'missing' ? 'Secret key not provided!' : 'Organization with [CV-Api-Key-Hash] not found!',
    }),
    error: (_status, message) => ({ error: message }),
  },
} satisfies Record<string, Envelope>;
