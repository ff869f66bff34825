import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PhiCipher } from '../../src/crypto/phi.ts';
import { PhiKeyMismatchError, verifyPhiKey } from '../../src/crypto/phi-key-check.ts';
import type { Database } from '../../src/db/database.ts';
import { freshDatabase } from '../support/database.ts';

describe('PHI key check', () => {
  let db: Database;
  let drop: () => Promise<void>;
  before(async () => {
    ({ db, drop } = await freshDatabase());
  });
  after(() => drop());

  it('records the first key, accepts it again, refuses any other', async () => {
    const key = randomBytes(32);
    assert.equal(await verifyPhiKey(db, new PhiCipher({ key })), 'recorded');
    assert.equal(await verifyPhiKey(db, new PhiCipher({ key: Buffer.from(key) })), 'matches');
    await assert.rejects(verifyPhiKey(db, new PhiCipher({ key: randomBytes(32) })), PhiKeyMismatchError);
  });

  it('stores a check value that is not the key', async () => {
    const { rows } = await db.query<{ check_value: string }>('select check_value from phi_key_check');
    assert.equal(rows.length, 1);
    assert.match(rows[0]!.check_value, /^[A-Za-z0-9_-]{43}$/);
  });
});
