/**
 * A database backend that goes away (pg_terminate_backend, a failover, idle_in_transaction_session_timeout)
 * fails the statement in flight, never the process: before src/db/database.ts listened for errors on a
 * client checked out for a transaction, the first of these tests ended the test process with an unhandled
 * 'error' event. The request that lost its connection answers 503 in its route's envelope; the next ones
 * are served on new connections. PostgreSQL only (PGlite has no backends), on either pass of the suite.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import pg from 'pg';
import { isConnectionLost, openDatabase, type Database } from '../../src/db/database.ts';
import { registerErrorHandling } from '../../src/http/error-handler.ts';
import { freshDatabase, POSTGRES_TEST_URL } from '../support/database.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a lost database connection (PostgreSQL)', () => {
  let db: Database;
  let drop: () => Promise<void>;
  let admin: pg.Client;

  before(async () => {
    const fresh = await freshDatabase({ postgres: true });
    drop = fresh.drop;
    // One connection, so every test reuses the pool after the loss.
    db = await openDatabase({ engine: 'postgres', url: fresh.url!, poolSize: 1 });
    admin = new pg.Client({ connectionString: POSTGRES_TEST_URL });
    await admin.connect();
  });
  after(async () => {
    await admin.end();
    await db.close();
    await drop();
  });

  const terminate = (pid: number) => admin.query('select pg_terminate_backend($1)', [pid]);
  const backendPid = async (tx: Pick<Database, 'query'>) =>
    (await tx.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
  /** Waits until the server lists the backend `pid` as `condition` says: a moment known, not a time guessed. */
  const until = async (pid: number, condition: 'running pg_sleep' | 'gone') => {
    const sql =
      condition === 'gone'
        ? 'select 1 from pg_stat_activity where pid = $1'
        : "select 1 from pg_stat_activity where pid = $1 and state = 'active' and query like 'select pg_sleep%'";
    for (;;) {
      const listed = (await admin.query(sql, [pid])).rows.length > 0;
      if (listed === (condition !== 'gone')) return;
      await sleep(20);
    }
  };

  it('a transaction whose backend is terminated between statements rejects; the pool serves the next one', async () => {
    let failure: unknown;
    try {
      await db.transaction(async (tx) => {
        await terminate(await backendPid(tx));
        await sleep(100); // the client learns of it (its 'error' event) before the next statement
        await tx.query('select 1');
      });
    } catch (error) {
      failure = error;
    }
    assert.ok(isConnectionLost(failure), `a connection error: ${String(failure)}`);
    assert.deepEqual((await db.query('select 1 as one')).rows, [{ one: 1 }]);
    assert.equal(
      await db.transaction(async (tx) => (await tx.query<{ two: number }>('select 2 as two')).rows[0]!.two),
      2,
    );
  });

  it('a transaction whose backend is terminated under a running statement rejects, and commits nothing', async () => {
    await db.exec('create table if not exists lost_probe (id integer primary key)');
    const attempt = db.transaction(async (tx) => {
      await tx.query('insert into lost_probe (id) values (1)');
      const pid = await backendPid(tx);
      // Awaited together: the statement may fail before the termination's own answer arrives. Terminated once
      // the server runs it (its minute only bounds a termination that never comes).
      await Promise.all([tx.query('select pg_sleep(60)'), until(pid, 'running pg_sleep').then(() => terminate(pid))]);
    });
    await assert.rejects(attempt, (error) => isConnectionLost(error));
    assert.deepEqual((await db.query('select id from lost_probe')).rows, []);
  });

  it('idle_in_transaction_session_timeout ends a transaction left idle: it rejects, the process lives on', async () => {
    const attempt = db.transaction(async (tx) => {
      await tx.query("set local idle_in_transaction_session_timeout = '50ms'");
      await until(await backendPid(tx), 'gone'); // ended by the server, however long it takes to get there
      await tx.query('select 1');
    });
    await assert.rejects(attempt, (error) => isConnectionLost(error));
    assert.deepEqual((await db.query('select 1 as one')).rows, [{ one: 1 }]);
  });

  it('answers 503 in the route envelope to the request that lost its connection, and serves the next', async () => {
    const app: FastifyInstance = Fastify({ logger: false });
    registerErrorHandling(app);
    // The backend ends itself under the request's transaction: a real loss, at a known moment.
    app.post('/lose', { config: { envelope: 'payments' } }, async () =>
      db.transaction(async (tx) => {
        await tx.query('select pg_terminate_backend(pg_backend_pid())');
        return { ok: true };
      }),
    );
    app.get('/read', { config: { envelope: 'intake' } }, async () => (await db.query('select 1 as one')).rows[0]);
    await app.ready();
    try {
      const lost = await app.inject({ method: 'POST', url: '/lose' });
      assert.equal(lost.statusCode, 503);
      assert.deepEqual(lost.json(), { success: false, message: 'The database is unavailable; please retry' });
      const next = await app.inject({ method: 'GET', url: '/read' });
      assert.equal(next.statusCode, 200);
      assert.deepEqual(next.json(), { one: 1 });
    } finally {
      await app.close();
    }
  });

  it('tells connection losses from statement errors', async () => {
    await assert.rejects(db.query('select * from no_such_table'), (error) => !isConnectionLost(error));
    await assert.rejects(db.query('select 1/0'), (error) => !isConnectionLost(error));
  });
});
