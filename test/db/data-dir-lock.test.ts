import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { DataDirInUseError, DataDirLock, LOCK_FILE } from '../../src/db/data-dir-lock.ts';

/** The lock's own rules, in this process (test/process/data-dir-lock.test.ts checks them across processes). */
describe('the data folder lock', () => {
  let directory: string;
  before(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'care360-lock-unit-'));
  });
  after(() => rm(directory, { recursive: true, force: true }));

  const token = async (file: string) => (JSON.parse(await readFile(file, 'utf8')) as { token: string }).token;

  /** Waits (real time) until `check` holds, for the heartbeat's file work to finish. */
  async function eventually(check: () => Promise<boolean>): Promise<void> {
    for (let attempt = 0; attempt < 200; attempt++) {
      if (await check().catch(() => false)) return;
      await sleep(10);
    }
    assert.fail('the condition never held');
  }

  it('refuses a second opening in the same process, and is gone once released', async () => {
    const lock = await DataDirLock.acquire(directory, () => assert.fail('not lost'));
    await assert.rejects(
      DataDirLock.acquire(directory, () => undefined),
      DataDirInUseError,
    );
    await lock.release();
    await assert.rejects(readFile(path.join(directory, LOCK_FILE)), { code: 'ENOENT' });
    await (await DataDirLock.acquire(directory, () => undefined)).release();
  });

  it('makes its file again when it was deleted, and stops its owner when another process took it', async (context) => {
    context.mock.timers.enable({ apis: ['setInterval'] });
    const lost: string[] = [];
    const lock = await DataDirLock.acquire(directory, (message) => lost.push(message));
    const file = path.join(directory, LOCK_FILE);
    const ours = await token(file);
    try {
      await unlink(file);
      context.mock.timers.tick(10_000);
      await eventually(async () => (await token(file)) === ours);
      assert.deepEqual(lost, []);

      await writeFile(
        file,
        JSON.stringify({ pid: 1, hostname: 'elsewhere', token: 'theirs', command: 'x', since: 'now' }),
      );
      context.mock.timers.tick(10_000);
      await eventually(async () => lost.length === 1);
      assert.match(lost[0]!, /lost the lock .*care360\.lock \(now held by pid 1 on elsewhere/);
      assert.equal(await token(file), 'theirs', 'the new owner’s lock is left alone');
    } finally {
      await lock.release();
    }
  });
});
