import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { PhiCipher, keyIdOf } from '../../src/crypto/phi.ts';
import { PhiKeyMismatchError, phiKeyLogLine, verifyPhiKey } from '../../src/crypto/phi-key-check.ts';
import type { Database } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import { freshDatabase } from '../support/database.ts';

describe('PHI key check', () => {
  let db: Database;
  let drop: () => Promise<void>;
  before(async () => {
    ({ db, drop } = await freshDatabase());
  });
  after(() => drop());
  beforeEach(async () => {
    await db.query('delete from phi_keys');
  });

  it('records the first key, accepts it again, refuses any other, and stores only its id', async () => {
    const key = randomBytes(32);
    assert.equal(await verifyPhiKey(db, new PhiCipher({ key })), 'recorded');
    assert.equal(await verifyPhiKey(db, new PhiCipher({ key: Buffer.from(key) })), 'matches');
    await assert.rejects(verifyPhiKey(db, new PhiCipher({ key: randomBytes(32) })), PhiKeyMismatchError);
    const { rows } = await db.query<{ id: string }>('select id from phi_keys');
    assert.deepEqual(rows, [{ id: keyIdOf(key) }]);
    assert.match(rows[0]!.id, /^[A-Za-z0-9_-]{16}$/);
  });

  it('accepts a new key with the old one kept, and records both as in use', async () => {
    const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
    await verifyPhiKey(db, new PhiCipher({ key: oldKey }));
    assert.equal(await verifyPhiKey(db, new PhiCipher({ key: newKey, oldKeys: [oldKey] })), 'recorded');
    await assert.rejects(verifyPhiKey(db, new PhiCipher({ key: newKey })), (error: Error) => {
      assert.match(error.message, new RegExp(`sealed under key ${keyIdOf(oldKey)}`));
      assert.match(error.message, /PHI_ENCRYPTION_OLD_KEYS/);
      return true;
    });
    // The old key alone is refused too: the database now holds values under the new one.
    await assert.rejects(verifyPhiKey(db, new PhiCipher({ key: oldKey })), PhiKeyMismatchError);
  });

  it('knows the key of a database from before key ids by the check value it recorded (migration 0090)', async () => {
    const key = randomBytes(32);
    const checkValue = createHmac('sha256', key).update('care360 PHI key check v1').digest('base64url');
    // The database as 0040_phi_key_check left it, before 0090_phi_keys.
    await db.exec(`drop table phi_keys;
      create table phi_key_check (id integer primary key default 1 check (id = 1), check_value text not null,
        created_at timestamptz not null default now());
      delete from schema_migrations where name = '0090_phi_keys';`);
    await db.query('insert into phi_key_check (id, check_value) values (1, $1)', [checkValue]);
    assert.deepEqual(await migrate(db), ['0090_phi_keys']);
    assert.deepEqual((await db.query('select id from phi_keys')).rows, [{ id: keyIdOf(key) }]);
    await assert.rejects(verifyPhiKey(db, new PhiCipher({ key: randomBytes(32) })), PhiKeyMismatchError);
    assert.equal(await verifyPhiKey(db, new PhiCipher({ key })), 'matches');
  });

  it('logs where a generated key file is and that it must be backed up; never a key', () => {
    const generated = phiKeyLogLine({
      currentKeyId: 'abc',
      oldKeyIds: [],
      keyFile: { path: '/srv/data/phi.key', created: true },
    });
    assert.equal(generated.level, 'warn');
    assert.match(generated.message, /generated into \/srv\/data\/phi\.key: back it up with the data folder/);
    assert.equal(
      phiKeyLogLine({ currentKeyId: 'abc', oldKeyIds: [], keyFile: { path: '/k', created: false } }).level,
      'info',
    );
    assert.match(phiKeyLogLine({ currentKeyId: 'abc', oldKeyIds: ['def'] }).message, /from PHI_ENCRYPTION_KEY/);
  });
});
