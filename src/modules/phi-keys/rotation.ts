import type { Database } from '../../db/database.ts';
import type { PhiCipher } from '../../crypto/phi.ts';

/**
 * The text columns sealed with the PHI cipher, each in a table keyed by a UUID `id`, in the order a rotation
 * visits them, with the count of its step that each adds to. File contents (bytes, keyed by storage key) come
 * after them.
 */
const SEALED_TEXT = [
  { table: 'answers', column: 'encrypted_value', count: 'answers' },
  { table: 'case_comments', column: 'encrypted_text', count: 'comments' },
  // A webhook endpoint's signing secret, and the body of each delivery as first rendered (kept for its retries).
  { table: 'webhook_endpoints', column: 'secret_sealed', count: 'webhookSecrets' },
  { table: 'webhook_deliveries', column: 'body_sealed', count: 'webhookBodies' },
  // An organization's own payment gateway credentials.
  { table: 'organization_gateway_credentials', column: 'secret_sealed', count: 'gatewayCredentials' },
  // The health fields of a patient's profile (allergies, medications, conditions).
  { table: 'patients', column: 'health_sealed', count: 'profiles' },
  // A staff member's TOTP secret.
  { table: 'staff_members', column: 'totp_secret_encrypted', count: 'staffSecrets' },
] as const;

type SealedTextTable = (typeof SEALED_TEXT)[number]['table'];

/** The tables of sealed texts, in rotation order (a cursor names one). */
export const SEALED_TEXT_TABLES = SEALED_TEXT.map((entry) => entry.table) as [SealedTextTable, ...SealedTextTable[]];

/** Where a rotation goes on: a table and the last key it re-sealed there (rows are visited in key order). */
export interface RotationCursor {
  table: SealedTextTable | 'file_contents';
  after: string;
}

/** Values sealed again under the current key, by kind: one count per sealed text table, and the files. */
export type ResealedCounts = Record<(typeof SEALED_TEXT)[number]['count'] | 'files', number>;

export function noneResealed(): ResealedCounts {
  return Object.fromEntries(
    [...SEALED_TEXT.map((entry) => entry.count), 'files'].map((count) => [count, 0]),
  ) as ResealedCounts;
}

export interface RotationStep extends ResealedCounts {
  /** True when every table was visited to its end; `cursor` is then null. */
  done: boolean;
  cursor: RotationCursor | null;
  /** When done: values still under another key (written by a server that was not yet on the new key). */
  remaining?: number;
  /** When done with none remaining: the keys retired now (no value is sealed under them any more). */
  retiredKeyIds?: string[];
}

const FIRST_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * `phi rotate`: seals again, under the current key, every sealed value (PHI answers, comments and files, webhook
 * secrets and bodies, gateway credentials) sealed under another key
 * (or before keys had ids), in batches, each batch its own statement or short transaction, so servers keep
 * serving. A step works for about `timeBudgetMs` and returns where to go on; rows already under the current key
 * are skipped, so running it again from the start (after a crash) redoes nothing. At the end it counts what is
 * left under other keys and, when nothing is, retires them in phi_keys: servers may then drop them.
 */
export async function rotatePhiStep(
  db: Database,
  cipher: PhiCipher,
  options: { cursor?: RotationCursor | null; batchSize?: number; timeBudgetMs?: number } = {},
): Promise<RotationStep> {
  const batchSize = options.batchSize ?? 500;
  const deadline = Date.now() + (options.timeBudgetMs ?? Number.POSITIVE_INFINITY);
  const textPrefix = await cipher.currentTextPrefix();
  const bytesHeader = await cipher.currentBytesHeader();
  let cursor: RotationCursor = options.cursor ?? { table: SEALED_TEXT[0].table, after: FIRST_UUID };
  const step: RotationStep = { done: false, cursor, ...noneResealed() };

  // At least one batch a step, then as many as fit in the time budget.
  do {
    const sealed = SEALED_TEXT.findIndex((entry) => entry.table === cursor.table);
    if (sealed >= 0) {
      const { table, column, count } = SEALED_TEXT[sealed]!;
      const { rows } = await db.query<{ id: string; sealed: string }>(
        `select id::text as id, ${column} as sealed from ${table}
          where id > $1::uuid and ${column} is not null and not starts_with(${column}, $2)
          order by id limit $3`,
        [cursor.after, textPrefix, batchSize],
      );
      if (rows.length === 0) {
        const next = SEALED_TEXT[sealed + 1];
        cursor = next ? { table: next.table, after: FIRST_UUID } : { table: 'file_contents', after: '' };
        continue; // to the condition: on to the next table now or at the next step
      }
      const resealed = await Promise.all(
        rows.map(async (row) => cipher.encryptText(await cipher.decryptText(row.sealed))),
      );
      // Only a value still as read is replaced: a value rewritten meanwhile (a rotated webhook secret) is sealed
      // under the current key already, and a second rotation running at once must not lose anything either.
      await db.query(
        `update ${table} t set ${column} = v.resealed
           from unnest($1::uuid[], $2::text[], $3::text[]) as v (id, sealed, resealed)
          where t.id = v.id and t.${column} = v.sealed`,
        [rows.map((row) => row.id), rows.map((row) => row.sealed), resealed],
      );
      step[count] += rows.length;
      cursor = { table, after: rows.at(-1)!.id };
    } else {
      // File contents are large: a few at a time, each re-sealed in its own statement.
      const { rows } = await db.query<{ storage_key: string }>(
        `select storage_key from file_contents
          where storage_key > $1 and substring(content from 1 for $2) <> $3::bytea
          order by storage_key limit $4`,
        [cursor.after, bytesHeader.length, bytesHeader, Math.min(batchSize, 20)],
      );
      if (rows.length === 0) return finish(db, cipher, step, textPrefix, bytesHeader);
      for (const { storage_key: storageKey } of rows) {
        const { rows: found } = await db.query<{ content: Uint8Array }>(
          'select content from file_contents where storage_key = $1',
          [storageKey],
        );
        if (!found[0]) continue;
        const sealed = Buffer.from(found[0].content);
        if (sealed.subarray(0, bytesHeader.length).equals(bytesHeader)) continue;
        const resealed = await cipher.encryptBytes(await cipher.decryptBytes(sealed));
        await db.query('update file_contents set content = $2 where storage_key = $1 and content = $3', [
          storageKey,
          resealed,
          sealed,
        ]);
        step.files += 1;
      }
      cursor = { table: 'file_contents', after: rows.at(-1)!.storage_key };
    }
  } while (Date.now() < deadline);
  return { ...step, cursor };
}

async function finish(
  db: Database,
  cipher: PhiCipher,
  step: RotationStep,
  textPrefix: string,
  bytesHeader: Buffer,
): Promise<RotationStep> {
  const { rows } = await db.query<{ remaining: number }>(
    `select ${SEALED_TEXT.map(
      ({ table, column }) =>
        `(select count(*)::int from ${table} where ${column} is not null and not starts_with(${column}, $1))`,
    ).join('\n          + ')}
          + (select count(*)::int from file_contents where substring(content from 1 for $2) <> $3::bytea)
          as remaining`,
    [textPrefix, bytesHeader.length, bytesHeader],
  );
  const remaining = rows[0]!.remaining;
  let retiredKeyIds: string[] = [];
  if (remaining === 0) {
    const retired = await db.query<{ id: string }>(
      'update phi_keys set retired_at = now() where id <> $1 and retired_at is null returning id',
      [await cipher.currentKeyId()],
    );
    retiredKeyIds = retired.rows.map((row) => row.id).sort();
  }
  return { ...step, done: true, cursor: null, remaining, retiredKeyIds };
}

/** The keys the database knows (phi_keys), for `phi keys`. */
export async function listPhiKeys(
  db: Database,
): Promise<{ id: string; createdAt: string; retiredAt: string | null }[]> {
  const { rows } = await db.query<{ id: string; created_at: Date; retired_at: Date | null }>(
    'select id, created_at, retired_at from phi_keys order by created_at, id',
  );
  return rows.map((row) => ({
    id: row.id,
    createdAt: row.created_at.toISOString(),
    retiredAt: row.retired_at?.toISOString() ?? null,
  }));
}
