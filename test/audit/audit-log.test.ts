/** AuditLog's batching: one write in flight; what is recorded meanwhile goes in the next write, together. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuditLog, type AuditEventStore } from '../../src/modules/audit/audit-log.ts';
import type { AuditEvent } from '../../src/modules/audit/repository.ts';

const event = (requestId: string): AuditEvent => ({
  id: `00000000-0000-4000-8000-${requestId.padStart(12, '0')}`,
  organizationId: null,
  apiKeyId: null,
  action: 'case.read',
  resourceType: 'case',
  resourceId: null,
  outcome: 'success',
  statusCode: 200,
  requestId,
  clientAddress: null,
  occurredAt: new Date(),
});

/** A store whose writes wait until released, and that remembers the request ids of each write. */
function heldStore(fail = false) {
  const writes: string[][] = [];
  const releases: (() => void)[] = [];
  const store: AuditEventStore = {
    insertMany: (events) => {
      writes.push(events.map((item) => item.requestId));
      return new Promise((resolve, reject) =>
        releases.push(() => (fail ? reject(Object.assign(new Error('disk full'), { code: '53100' })) : resolve())),
      );
    },
  };
  const releaseNext = async () => {
    while (releases.length === 0) await new Promise((resolve) => setImmediate(resolve));
    releases.shift()!();
  };
  return { store, writes, releaseNext };
}

describe('AuditLog', () => {
  it('writes an event alone when idle, and the events recorded during that write in one next write', async () => {
    const { store, writes, releaseNext } = heldStore();
    const log = new AuditLog(store);
    log.record(event('1'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(writes, [['1']], 'written at once, alone');
    for (const id of ['2', '3', '4']) log.record(event(id));
    assert.equal(writes.length, 1, 'nothing more is sent while a write is in flight');
    await releaseNext();
    await releaseNext();
    await log.flush();
    assert.deepEqual(writes, [['1'], ['2', '3', '4']]);
  });

  it(
    'reports every event of a failed write once, with its action, request id and code',
    { timeout: 10_000 },
    async () => {
      const { store, writes, releaseNext } = heldStore(true);
      const failures: { requestId: string; code: string | undefined; message: string }[] = [];
      const log = new AuditLog(store, (failure) => failures.push(failure));
      log.record(event('1'));
      log.record(event('2'));
      for (let write = 0; write < 3; write += 1) await releaseNext();
      await log.flush();
      assert.deepEqual(writes, [['1', '2'], ['1'], ['2']], 'the failed batch is tried again event by event');
      assert.deepEqual(
        failures.map(({ requestId, code, message }) => ({ requestId, code, message })),
        [
          { requestId: '1', code: '53100', message: 'disk full' },
          { requestId: '2', code: '53100', message: 'disk full' },
        ],
      );
    },
  );

  it('loses no event because of another: a failed batch is written again one event at a time', async () => {
    const written: string[] = [];
    const writes: string[][] = [];
    // Refuses any statement that holds event 3, as the database refuses a whole statement for one bad row.
    const store: AuditEventStore = {
      insertMany: async (events) => {
        writes.push(events.map((item) => item.requestId));
        if (events.some((item) => item.requestId === '3')) throw Object.assign(new Error('bad row'), { code: '22021' });
        written.push(...events.map((item) => item.requestId));
      },
    };
    const failures: string[] = [];
    const log = new AuditLog(store, (failure) => failures.push(failure.requestId));
    for (const id of ['1', '2', '3', '4', '5']) log.record(event(id));
    await log.flush();
    assert.deepEqual(writes[0], ['1', '2', '3', '4', '5'], 'one statement first');
    assert.deepEqual(written.sort(), ['1', '2', '4', '5']);
    assert.deepEqual(failures, ['3']);
  });

  it('flush waits for writes still in flight', async () => {
    const { store, writes, releaseNext } = heldStore();
    const log = new AuditLog(store);
    log.record(event('1'));
    let flushed = false;
    const flushing = log.flush().then(() => (flushed = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(flushed, false);
    await releaseNext();
    await flushing;
    assert.deepEqual(writes, [['1']]);
  });
});
