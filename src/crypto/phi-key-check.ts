import type { Database, Queryable } from '../db/database.ts';
import { MAKE_KEY_HINT, type PhiCipher, type PhiKeyDescription } from './phi.ts';

export class PhiKeyMismatchError extends Error {}

/**
 * The ids of the keys a database holds PHI under (table phi_keys: every key not retired by `phi rotate`) that
 * are not among
 * `keyIds`. Empty when every value of the database can be opened with those keys.
 */
export async function missingPhiKeyIds(db: Queryable, keyIds: readonly string[]): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>('select id from phi_keys where retired_at is null order by id');
  const ours = new Set(keyIds);
  return rows.map((row) => row.id).filter((id) => !ours.has(id));
}

/**
 * Makes sure this process can open every PHI value of the database, and records the key it seals new ones
 * with. Refused: a process without a key that the database still holds values under (table phi_keys: every
 * key not retired by `phi rotate`), before it can write PHI that other servers cannot read, or fail to read
 * theirs. Under a table lock, so two first servers with different keys cannot both pass.
 */
export async function verifyPhiKey(db: Database, cipher: PhiCipher): Promise<'recorded' | 'matches'> {
  const { currentKeyId, oldKeyIds } = await cipher.describe();
  return db.transaction(async (tx) => {
    await tx.query('lock table phi_keys in share row exclusive mode');
    const ours = [currentKeyId, ...oldKeyIds];
    const missing = await missingPhiKeyIds(tx, ours);
    if (missing.length > 0) {
      throw new PhiKeyMismatchError(
        `The PHI encryption key does not match the database: it holds PHI sealed under key ${missing.join(', ')}, ` +
          `and this server's keys are ${ours.join(', ')}. Set PHI_ENCRYPTION_KEY to the database's key ` +
          `(the first server generated it into its DATA_DIR/phi.key unless PHI_ENCRYPTION_KEY was set); while ` +
          `rotating to a new key, give the old one in PHI_ENCRYPTION_OLD_KEYS (a new key: ${MAKE_KEY_HINT}).`,
      );
    }
    const recorded = await tx.query(
      `insert into phi_keys (id) values ($1)
       on conflict (id) do update set retired_at = null where phi_keys.retired_at is not null`,
      [currentKeyId],
    );
    return recorded.rowCount === 1 ? 'recorded' : 'matches';
  });
}

/**
 * The start-up log line about the keys: their ids, and for the generated key file where it is and that it
 * must be backed up with the data (a warning the first time, when it was just made).
 */
export function phiKeyLogLine(keys: PhiKeyDescription): {
  level: 'info' | 'warn';
  fields: Record<string, unknown>;
  message: string;
} {
  const fields = { phiKeyId: keys.currentKeyId, phiOldKeyIds: keys.oldKeyIds };
  if (!keys.keyFile) return { level: 'info', fields, message: 'PHI encryption key from PHI_ENCRYPTION_KEY' };
  const { path, created } = keys.keyFile;
  return {
    level: created ? 'warn' : 'info',
    fields: { ...fields, phiKeyFile: path },
    message:
      `PHI encryption key ${created ? 'generated into' : 'read from'} ${path}: back it up with the data folder; ` +
      'without it no encrypted answer or file can be read',
  };
}
