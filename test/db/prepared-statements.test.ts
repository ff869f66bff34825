/**
 * Statements marked `prepared` (named prepared statements: src/db/pglite-statements.ts on PGlite, pg's
 * named statements on PostgreSQL) answer exactly as the same text sent unprepared, fail the same way,
 * and take part in transactions. Runs on the engine of the suite (PGlite, or TEST_DATABASE_URL).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { prepared, preparedStatementName, type Database } from '../../src/db/database.ts';
import { freshDatabase } from '../support/database.ts';

const SELECT = `select id, n, doc, tags, at, note from prepared_probe where id = any($1::uuid[]) order by n`;
const INSERT = `insert into prepared_probe (id, n, doc, tags, at, note) values ($1, $2, $3::jsonb, $4::text[], $5, $6)`;
const PREPARED_SELECT = prepared(`${SELECT} -- prepared`);
const PREPARED_INSERT = prepared(`${INSERT} -- prepared`);

const ONE = '00000000-0000-4000-8000-000000000001';
const TWO = '00000000-0000-4000-8000-000000000002';
const THREE = '00000000-0000-4000-8000-000000000003';

describe(`prepared statements (${process.env.TEST_DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  let db: Database;
  let drop: () => Promise<void>;
  before(async () => {
    ({ db, drop } = await freshDatabase());
    await db.exec(`create table prepared_probe (id uuid primary key, n integer not null, doc jsonb, tags text[],
                                                at timestamptz, note text)`);
  });
  after(async () => drop());

  it('names only the marked texts', () => {
    assert.match(preparedStatementName(PREPARED_SELECT) ?? '', /^care360_[0-9a-f]{16}$/);
    assert.equal(preparedStatementName(SELECT), undefined);
  });

  it('writes and reads every parameter and column type as the unprepared text does', async () => {
    const at = new Date('2026-01-02T03:04:05.678Z');
    await db.query(PREPARED_INSERT, [ONE, 1, JSON.stringify({ a: [1, 'x'] }), ['p', 'q'], at, 'first']);
    await db.query(INSERT, [TWO, 2, null, null, null, null]);
    for (let repeat = 0; repeat < 3; repeat += 1) {
      // Repeated: on PostgreSQL the plan is cached from the sixth execution on; the answer must not change.
      const viaPrepared = await db.query(PREPARED_SELECT, [[ONE, TWO]]);
      const plain = await db.query(SELECT, [[ONE, TWO]]);
      assert.deepEqual(viaPrepared.rows, plain.rows);
      assert.equal(viaPrepared.rowCount, 2);
      assert.equal(plain.rowCount, 2);
    }
    const [first, second] = (await db.query(PREPARED_SELECT, [[ONE, TWO]])).rows;
    assert.deepEqual(first, { id: ONE, n: 1, doc: { a: [1, 'x'] }, tags: ['p', 'q'], at, note: 'first' });
    assert.deepEqual(second, { id: TWO, n: 2, doc: null, tags: null, at: null, note: null });
  });

  it('throws the database error (code and constraint) and goes on working after it', async () => {
    await assert.rejects(db.query(PREPARED_INSERT, [ONE, 9, null, null, null, 'again']), (error: unknown) => {
      const { code, constraint } = error as { code?: string; constraint?: string };
      assert.equal(code, '23505');
      assert.equal(constraint, 'prepared_probe_pkey');
      return true;
    });
    assert.equal((await db.query(PREPARED_SELECT, [[ONE]])).rows.length, 1);
  });

  it('takes part in a transaction: rolled back with it, committed with it', async () => {
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(PREPARED_INSERT, [THREE, 3, null, null, null, 'rolled back']);
        assert.equal((await tx.query(PREPARED_SELECT, [[THREE]])).rows.length, 1, 'visible inside');
        throw new Error('abort');
      }),
      /abort/,
    );
    assert.equal((await db.query(PREPARED_SELECT, [[THREE]])).rows.length, 0);
    await db.transaction((tx) => tx.query(PREPARED_INSERT, [THREE, 3, null, null, null, 'committed']));
    assert.equal((await db.query(PREPARED_SELECT, [[THREE]])).rows[0]?.note, 'committed');
  });

  it('answers concurrent callers, inside and outside a transaction, each with its own rows', async () => {
    const results = await Promise.all([
      db.query(PREPARED_SELECT, [[ONE]]),
      db.transaction((tx) => tx.query(PREPARED_SELECT, [[TWO]])),
      db.query(PREPARED_SELECT, [[THREE]]),
    ]);
    assert.deepEqual(
      results.map((result) => result.rows.map((row) => row.n)),
      [[1], [2], [3]],
    );
  });
});
