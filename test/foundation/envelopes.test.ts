import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ZodType } from 'zod';
import {
  caseConflictBody,
  caseConflictSchema,
  envelopes,
  idempotencyConflictBody,
  idempotencyConflictSchema,
} from '../../src/http/envelopes.ts';
import { contextWithRouteTable, routeName, type RouteTableContext } from '../security/support.ts';

/**
 * Every error status a route declares is its envelope family's (src/http/envelopes.ts): the very schema the
 * family defines, and one that the family's own body for that status passes. Walks the registered route
 * table, so a new route is checked without being listed here.
 */

/**
 * The staff actions' 409 is the standard envelope with the state the action found (caseConflictBody).
 * Declared responses that are not error envelopes: the readiness probe's 503 is its own report. */
const ownBodies = new Set(['GET /ready 503']);

describe('error envelopes, from the route table', () => {
  let context: RouteTableContext;
  before(async () => {
    context = await contextWithRouteTable();
  });
  after(() => context.close());

  it('declares each error status with its family schema, which the family body passes', () => {
    let checked = 0;
    for (const route of context.routes) {
      const family = envelopes[route.config.envelope ?? 'standard'];
      const response = (route.schema?.response ?? {}) as Record<string, ZodType>;
      for (const [key, schema] of Object.entries(response)) {
        const status = Number(key);
        if (status < 400 || ownBodies.has(`${route.method} ${route.url} ${status}`)) continue;
        const where = `${routeName(route)} ${status}`;
        // The bodies this status can carry in this family: a refused key, the documented 409, any other error.
        const body =
          schema === idempotencyConflictSchema
            ? idempotencyConflictBody()
            : schema === caseConflictSchema && status === 409
              ? caseConflictBody('message', {
                  caseId: '00000000-0000-4000-8000-000000000000',
                  status: 'APPROVED',
                  isArchived: false,
                  isEscalated: false,
                  assigneeId: null,
                  version: 3,
                })
              : schema === family.unauthorizedSchema && status === family.unauthorizedStatus
                ? family.unauthorized('invalid')
                : schema === family.errorSchema
                  ? family.error(status, 'message')
                  : undefined;
        assert.ok(body, `${where}: declares a schema of its own, not its family's (errorResponses)`);
        if (schema === idempotencyConflictSchema) assert.equal(status, 409, `${where}: the 409 body at another status`);
        assert.ok(schema.safeParse(body).success, `${where}: the family's body fails the declared schema`);
        checked += 1;
      }
    }
    assert.ok(checked > 40, `checked ${checked} declared error statuses`);
  });

  it('answers a refused key with the family status and body', async () => {
    for (const route of context.routes) {
      if (route.config.auth !== 'apiKey' || route.params.length > 0) continue;
      const family = envelopes[route.config.envelope ?? 'standard'];
      const answer = await context.app.inject({ method: route.method as 'GET', url: route.url });
      assert.equal(answer.statusCode, family.unauthorizedStatus, routeName(route));
      assert.deepEqual(answer.json(), family.unauthorized('missing'), routeName(route));
    }
  });

  it('gives the bundles family its own 400 for a refused key', async () => {
    const answer = await context.app.inject({ method: 'GET', url: '/api/v1/organization/bundles' });
    assert.equal(answer.statusCode, 400);
    assert.deepEqual(answer.json(), {
      status: 400,
      success: false,
      message: 'Invalid request parameters',
      error: 'Invalid API key',
    });
    assert.equal(answer.headers['x-content-type-options'], 'nosniff');
  });
});
