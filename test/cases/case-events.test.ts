import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { recordCaseEvent } from '../../src/modules/cases/lifecycle/events.ts';
import { intakeTestContext, minimalBody, postIntake, type TestContext } from './support.ts';

describe('case events', () => {
  let context: TestContext;
  let organizationId: string;
  let apiKeyId: string;
  let caseId: string;

  before(async () => {
    context = await intakeTestContext();
    let apiKey: string;
    ({ apiKey, organizationId, apiKeyId } = await context.organization());
    const intake = await postIntake(context, apiKey, minimalBody());
    assert.equal(intake.status, 200);
    caseId = intake.body.data!.caseId!;
  });
  after(() => context.close());

  const events = async () => {
    const { rows } = await context.db.query<{ type: string; actor_kind: string; actor_id: string | null }>(
      'select type, actor_kind, actor_id from case_events where organization_id = $1 and case_id = $2 order by seq',
      [organizationId, caseId],
    );
    return rows;
  };

  it('the intake records case.created by its API key', async () => {
    assert.deepEqual(await events(), [{ type: 'case.created', actor_kind: 'api_key', actor_id: apiKeyId }]);
  });

  it('an event lives and dies with the transaction of its change', async () => {
    const change = {
      organizationId,
      caseId,
      actor: { kind: 'operator' as const, id: 'operator-1' },
      type: 'case.escalated' as const,
      before: { isEscalated: false },
      after: { isEscalated: true },
    };
    await assert.rejects(
      context.db.transaction(async (tx) => {
        await recordCaseEvent(tx, change);
        throw new Error('the change failed');
      }),
      /the change failed/,
    );
    assert.equal((await events()).length, 1);
    await context.db.transaction((tx) => recordCaseEvent(tx, change));
    assert.deepEqual((await events()).at(-1), {
      type: 'case.escalated' as const,
      actor_kind: 'operator',
      actor_id: 'operator-1',
    });
  });
});
