import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from '../support/app.ts';
import { bearer, intakeCase, staffCaseContext, staffMember, type SignedIn } from './support.ts';

/** The queue's counts with the cap lowered to 3 (config.limits.queueCountCap), and its page across organizations. */
describe('the staff queue counts per status up to a cap', () => {
  const CAP = 3;
  let context: TestContext;
  let orgA: { organizationId: string; apiKey: string };
  let orgB: { organizationId: string; apiKey: string };
  let supportA: SignedIn;
  let adminAll: SignedIn;
  let providerNY: SignedIn;
  /** Every case, in intake order (the queue's order). */
  const created: string[] = [];

  before(async () => {
    context = await staffCaseContext((config) => {
      config.limits.queueCountCap = CAP;
    });
    orgA = await context.organization('Clinic A');
    orgB = await context.organization('Clinic B');
    // Organization A: 7 cases (one in NY), organization B: 2, interleaved in time.
    const plan: [{ apiKey: string }, string][] = [
      [orgA, 'DC'],
      [orgB, 'DC'],
      [orgA, 'DC'],
      [orgA, 'NY'],
      [orgA, 'DC'],
      [orgB, 'DC'],
      [orgA, 'DC'],
      [orgA, 'DC'],
      [orgA, 'DC'],
    ];
    for (const [index, [org, state]] of plan.entries()) {
      created.push(await intakeCase(context.app, org.apiKey, { email: `count${index}@example.com`, state }));
    }
    // Three of organization A's DC cases abandoned: exactly the cap. Four stay OPEN (one in NY): over the cap.
    await context.db.query(`update cases set status = 'ABANDONED' where id = any($1::uuid[])`, [
      [created[0], created[2], created[4]],
    ]);
    supportA = await staffMember(context.app, 'SUPPORT', { organizationIds: [orgA.organizationId] });
    adminAll = await staffMember(context.app, 'ADMIN');
    providerNY = await staffMember(context.app, 'PROVIDER', {
      organizationIds: [orgA.organizationId],
      title: 'MD',
      npi: '1234567890',
      dea: 'AB1234567',
      licensedStates: ['NY'],
    });
  });
  after(() => context.close());

  const queue = async (member: SignedIn, query = '') => {
    const response = await context.app.inject({ url: `/staff/v1/cases${query}`, headers: bearer(member) });
    assert.equal(response.statusCode, 200, response.body);
    return response.json<{
      cases: { id: string }[];
      nextCursor: string | null;
      counts: Record<string, number>;
      countsCapped: Record<string, boolean>;
    }>();
  };

  it('answers a count over the cap as the cap, flagged, and a count at the cap exactly', async () => {
    const body = await queue(supportA);
    assert.deepEqual(body.counts, { OPEN: CAP, ABANDONED: CAP });
    assert.deepEqual(body.countsCapped, { OPEN: true, ABANDONED: false });
    assert.equal(body.cases.length, 7, 'the page itself is not capped');
  });

  it('counts exactly below the cap, under the same filters and visibility', async () => {
    const ny = await queue(supportA, '?state=ny');
    assert.deepEqual([ny.counts, ny.countsCapped], [{ OPEN: 1 }, { OPEN: false }]);
    const provider = await queue(providerNY);
    assert.deepEqual([provider.counts, provider.countsCapped], [{ OPEN: 1 }, { OPEN: false }]);
    const other = await queue(adminAll, `?organizationId=${orgB.organizationId}&status=APPROVED`);
    assert.deepEqual([other.counts, other.countsCapped], [{ OPEN: 2 }, { OPEN: false }], 'the status filter aside');
    const archived = await queue(supportA, '?archived=true');
    assert.deepEqual([archived.counts, archived.countsCapped], [{}, {}]);
  });

  it('pages oldest first across the organizations of the member', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const body = await queue(adminAll, `?limit=2${cursor ? `&after=${cursor}` : ''}`);
      assert.ok(body.cases.length <= 2);
      seen.push(...body.cases.map((item) => item.id));
      cursor = body.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(seen, created);
    const open = await queue(adminAll, '?status=OPEN&limit=100');
    assert.deepEqual(
      open.cases.map((item) => item.id),
      created.filter((_, index) => ![0, 2, 4].includes(index)),
    );
  });
});
