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

  it('reports every event of a failed write once, with its action, request id and code', async () => {
    const { store, releaseNext } = heldStore(true);
    const failures: { requestId: string; code: string | undefined; message: string }[] = [];
    const log = new AuditLog(store, (failure) => failures.push(failure));
    log.record(event('1'));
    log.record(event('2'));
    await releaseNext();
    await log.flush();
    assert.deepEqual(
      failures.map(({ requestId, code, message }) => ({ requestId, code, message })),
      [
        { requestId: '1', code: '53100', message: 'disk full' },
        { requestId: '2', code: '53100', message: 'disk full' },
      ],
    );
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
