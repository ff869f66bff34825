import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MAX_PAGE_SIZE } from '../../src/http/pagination.ts';
import { AuditRepository, type AuditEvent } from '../../src/modules/audit/repository.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

interface EventView {
  id: string;
  organizationId: string | null;
  action: string;
  resourceType: string;
  resourceId: string | null;
  outcome: string;
  occurredAt: string;
}

describe('GET /admin/v1/audit-events', () => {
  let context: TestContext;
  const organizationA = randomUUID();
  const organizationB = randomUUID();
  const base = Date.parse('2026-03-01T12:00:00.000Z');
  const events: AuditEvent[] = [];

  before(async () => {
    context = await createTestContext();
    const repository = new AuditRepository(context.db);
    // 12 events a minute apart; two share one millisecond, so the cursor must break ties by id.
    for (let index = 0; index < 12; index++) {
      events.push({
        id: randomUUID(),
        organizationId: index % 3 === 2 ? organizationB : organizationA,
        apiKeyId: randomUUID(),
        action: index % 2 === 0 ? 'case.read' : 'case.create',
        resourceType: index === 11 ? 'payment' : 'case',
        resourceId: `resource-${index % 4}`,
        outcome: index === 5 ? 'failure' : 'success',
        statusCode: index === 5 ? 404 : 200,
        requestId: `request-${index}`,
        clientAddress: '203.0.113.7',
        occurredAt: new Date(base + Math.min(index, 10) * 60_000),
      });
    }
    for (const event of events) await repository.insert(event);
  });
  after(async () => context.close());

  const query = async (search: string) => {
    const response = await context.app.inject({
      method: 'GET',
      url: `/admin/v1/audit-events${search}`,
      headers: admin,
    });
    return response;
  };
  const ids = (list: EventView[]) => list.map((event) => event.id).sort();
  const expected = (keep: (event: AuditEvent) => boolean) =>
    events
      .filter(keep)
      .map((event) => event.id)
      .sort();

  it('lists events newest first with every field', async () => {
    const response = await query('?limit=100');
    assert.equal(response.statusCode, 200);
    const body = response.json() as { auditEvents: EventView[]; nextCursor: string | null };
    assert.equal(body.auditEvents.length, 12);
    assert.equal(body.nextCursor, null);
    const times = body.auditEvents.map((event) => Date.parse(event.occurredAt));
    assert.deepEqual(
      times,
      [...times].sort((a, b) => b - a),
    );
    const failure = body.auditEvents.find((event) => event.id === events[5]?.id);
    assert.deepEqual(failure, {
      id: events[5]?.id,
      organizationId: organizationB,
      apiKeyId: events[5]?.apiKeyId,
      staffId: null,
      action: 'case.create',
      resourceType: 'case',
      resourceId: 'resource-1',
      outcome: 'failure',
      statusCode: 404,
      requestId: 'request-5',
      clientAddress: '203.0.113.7',
      occurredAt: '2026-03-01T12:05:00.000Z',
    });
  });

  it('filters by organization, action, resource type and id, and time', async () => {
    const cases: [string, (event: AuditEvent) => boolean][] = [
      [`organizationId=${organizationB}`, (event) => event.organizationId === organizationB],
      ['action=case.create', (event) => event.action === 'case.create'],
      ['resourceType=payment', (event) => event.resourceType === 'payment'],
      [
        'resourceType=case&resourceId=resource-2',
        (event) => event.resourceType === 'case' && event.resourceId === 'resource-2',
      ],
      [
        'from=2026-03-01T12:03:00.000Z&to=2026-03-01T12:06:00Z',
        (event) => event.occurredAt >= new Date(base + 3 * 60_000) && event.occurredAt < new Date(base + 6 * 60_000),
      ],
      [
        `organizationId=${organizationA}&action=case.read&from=2026-03-01T13:00:00%2B01:00`,
        (event) => event.organizationId === organizationA && event.action === 'case.read',
      ],
    ];
    for (const [search, keep] of cases) {
      const response = await query(`?${search}&limit=100`);
      assert.equal(response.statusCode, 200, search);
      assert.deepEqual(ids(response.json().auditEvents), expected(keep), search);
      assert.ok(expected(keep).length > 0, `${search} selects something`);
    }
    const none = await query(`?organizationId=${randomUUID()}`);
    assert.deepEqual(none.json(), { auditEvents: [], nextCursor: null });
  });

  it('pages through every event exactly once with the cursor, ties included', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response = await query(`?limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(response.statusCode, 200);
      const body = response.json() as { auditEvents: EventView[]; nextCursor: string | null };
      assert.ok(body.auditEvents.length <= 5);
      seen.push(...body.auditEvents.map((event) => event.id));
      cursor = body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    assert.equal(pages, 3);
    assert.equal(new Set(seen).size, seen.length, 'no event twice');
    assert.deepEqual(
      [...seen].sort(),
      expected(() => true),
    );
  });

  it('pages with filters', async () => {
    const first = await query('?action=case.read&limit=4');
    const firstBody = first.json() as { auditEvents: EventView[]; nextCursor: string };
    assert.equal(firstBody.auditEvents.length, 4);
    const second = await query(`?action=case.read&limit=4&cursor=${encodeURIComponent(firstBody.nextCursor)}`);
    const secondBody = second.json() as { auditEvents: EventView[]; nextCursor: string | null };
    assert.equal(secondBody.auditEvents.length, 2);
    assert.equal(secondBody.nextCursor, null);
    assert.deepEqual(
      ids([...firstBody.auditEvents, ...secondBody.auditEvents]),
      expected((event) => event.action === 'case.read'),
    );
  });

  it('caps the page size and rejects a cursor that is not one', async () => {
    const tooMany = await query(`?limit=${MAX_PAGE_SIZE + 1}`);
    assert.equal(tooMany.statusCode, 400);
    assert.equal(tooMany.json().success, false);
    const zero = await query('?limit=0');
    assert.equal(zero.statusCode, 400);
    const defaulted = await query('');
    assert.equal(defaulted.statusCode, 200);
    for (const cursor of ['not-a-cursor', Buffer.from('{"t":"yesterday"}').toString('base64url'), 'x'.repeat(600)]) {
      const response = await query(`?cursor=${cursor}`);
      assert.equal(response.statusCode, 400, cursor);
      assert.deepEqual(Object.keys(response.json()).sort(), ['error', 'status', 'success']);
    }
    const badTime = await query('?from=yesterday');
    assert.equal(badTime.statusCode, 400);
  });

  it('requires the admin token', async () => {
    const response = await context.app.inject({ method: 'GET', url: '/admin/v1/audit-events' });
    assert.equal(response.statusCode, 401);
    assert.deepEqual(response.json(), { status: 401, success: false, error: 'Unauthorized' });
  });
});
