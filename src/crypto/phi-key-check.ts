import type { Queryable } from '../db/database.ts';
import type { PhiCipher } from './phi.ts';

export class PhiKeyMismatchError extends Error {}

/**
 * Makes sure this process encrypts PHI with the database's key. The first server to start records its
 * key's check value; a later one with another key (a different PHI_ENCRYPTION_KEY, or, on PostgreSQL,
 * its own generated DATA_DIR/phi.key) is refused before it can write PHI no other server can read.
 */
export async function verifyPhiKey(db: Queryable, cipher: PhiCipher): Promise<'recorded' | 'matches'> {
  const checkValue = await cipher.keyCheckValue();
  const inserted = await db.query(
    'insert into phi_key_check (id, check_value) values (1, $1) on conflict (id) do nothing',
    [checkValue],
  );
  if (inserted.rowCount === 1) return 'recorded';
  const { rows } = await db.query<{ check_value: string }>('select check_value from phi_key_check where id = 1');
  if (rows[0]?.check_value === checkValue) return 'matches';
  throw new PhiKeyMismatchError(
    'The PHI encryption key does not match the key this database was written with. Every server on one ' +
      'database needs the same key: set PHI_ENCRYPTION_KEY to it (the first server generated it into its ' +
      'DATA_DIR/phi.key unless PHI_ENCRYPTION_KEY was set).',
  );
}
