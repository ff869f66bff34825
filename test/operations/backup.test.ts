import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { phiCipherFor } from '../../src/crypto/phi.ts';
import { openDatabase } from '../../src/db/database.ts';
import { checkStoredInvariants } from '../crash/crash-run.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';
import { cliBundle } from '../support/cli-bundle.ts';
import { CHILD_NODE_FLAGS } from '../support/process-flags.ts';
import { startServer, type RunningServer } from '../support/server-process.ts';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `npm run cli -- <args>` (its code bundled, test/support/cli-bundle.ts) with exactly this environment; its exit
 * code and output. The limit only ends a command that hangs: on a loaded machine one takes a minute.
 */
async function cli(args: string[], environment: Record<string, string>) {
  return promisify(execFile)(process.execPath, [...CHILD_NODE_FLAGS, await cliBundle(), ...args], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...environment },
    timeout: 600_000,
  }).then(
    (result) => ({ code: 0, stdout: result.stdout, stderr: result.stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

async function listing(directory: string): Promise<string[]> {
  return (await readdir(directory, { recursive: true })).map(String).sort();
}

interface Acknowledged {
  idempotencyKey: string;
  caseId: string;
  history: string;
  at: number;
}

describe('backup and restore of the embedded database (npm run cli -- backup / restore)', () => {
  const work: string[] = [];
  let dataDir: string;
  let restoredDir: string;
  let backupFile: string;
  let port: number;
  let server: RunningServer | undefined;
  let backupStartedAt = 0;
  const acknowledged: Acknowledged[] = [];

  before(async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'care360-backup-'));
    work.push(root);
    dataDir = path.join(root, 'data');
    restoredDir = path.join(root, 'restored');
    backupFile = path.join(root, 'backups', 'under-load.tar.gz');
    port = await freePort();
  });
  after(async () => {
    await server?.stop('SIGKILL');
    for (const directory of work) await rm(directory, { recursive: true, force: true });
  });

  const environment = (directory: string) => ({
    DATA_DIR: directory,
    PORT: String(port),
    ADMIN_TOKEN,
    RATE_LIMIT_PER_KEY: '0',
    RATE_LIMIT_PER_ADDRESS: '0',
    LOG_LEVEL: 'info', // startServer waits for the "Server listening" line
  });

  it('takes a backup through the running server under intake and payment traffic', async () => {
    // No PHI_ENCRYPTION_KEY: the server generates DATA_DIR/phi.key, which the backup must not carry.
    server = await startServer(environment(dataDir));
    const base = server.url;
    const created = await fetch(`${base}/admin/v1/organizations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Backup clinic' }),
    });
    const { apiKey } = (await created.json()) as { apiKey: string };
    const post = async (url: string, body: unknown) => {
      const response = await fetch(`${base}${url}`, {
        method: 'POST',
        headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, json: (await response.json()) as Record<string, unknown> };
    };

    let stopping = false;
    const failures: string[] = [];
    const client = async (index: number) => {
      for (let n = 0; !stopping; n++) {
        const setup = await post('/api/v1/payments/setup', {});
        const stripeSetupId = String(setup.json.paymentSecret).split('_secret_')[0];
        const idempotencyKey = `backup-${index}-${n}-${randomUUID()}`;
        const history = `history ${index}-${n}-${randomBytes(4).toString('hex')}`;
        const intake = await post('/api/v1/dynamic-case', {
          firstName: 'Load',
          lastName: `Client${index}`,
          email: `patient-${index}-${n}@backup.example.com`,
          formTitle: 'Backup form',
          idempotencyKey,
          stripeSetupId,
          paymentAmount: 40,
          questions: [
            { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' },
            { question: 'Medical history', type: 'TEXT', required: true, phi: true, answer: history },
            {
              question: 'Upload your documents',
              type: 'FILE',
              required: false,
              phi: true,
              answer: [{ name: 'scan.bin', data: randomBytes(2048).toString('base64') }],
            },
          ],
        });
        if (intake.status !== 200) {
          failures.push(`intake ${intake.status} ${JSON.stringify(intake.json)}`);
          continue;
        }
        const caseId = (intake.json.data as { caseId: string }).caseId;
        acknowledged.push({ idempotencyKey, caseId, history, at: Date.now() });
        const hold = await post(`/api/v1/cases/${caseId}/payments`, { amount: 30, preauthorize: true });
        if (hold.status !== 200) failures.push(`hold ${hold.status} ${JSON.stringify(hold.json)}`);
        else if (n % 2 === 0) {
          const { paymentId } = (hold.json.data as { result: { paymentId: string } }).result;
          const capture = await post(`/api/v1/cases/${caseId}/payments/${paymentId}/capture`, {});
          if (capture.status !== 200) failures.push(`capture ${capture.status}`);
        }
      }
    };
    const clients = Array.from({ length: 4 }, (_, index) => client(index));
    // Waits for traffic rather than for a time, so a slow machine changes how long this takes, not its outcome.
    const until = async (what: string, done: () => boolean) => {
      for (const deadline = Date.now() + 120_000; !done(); await sleep(50)) {
        if (Date.now() > deadline || failures.length > 0) assert.fail(`${what}; failures: ${failures.join(', ')}`);
      }
    };
    await until('4 cases acknowledged before the backup', () => acknowledged.length >= 4);
    // Taken after the 4th acknowledgement was recorded, possibly within the same millisecond: an acknowledgement
    // at `backupStartedAt` itself came before the backup.
    backupStartedAt = Date.now();
    const backedUp = await cli(['backup', backupFile], environment(dataDir));
    await until('a case acknowledged after the backup began', () =>
      acknowledged.some((one) => one.at > backupStartedAt + 200),
    );
    stopping = true;
    await Promise.all(clients);
    const running = server;
    server = undefined;
    // The server's own words say why it stopped otherwise (the tail: the log is long under traffic).
    assert.equal(await running.stop(), 0, running.output().slice(-4000));

    assert.equal(backedUp.code, 0, backedUp.stderr);
    const result = JSON.parse(backedUp.stdout) as { takenBy: string; bytes: number };
    assert.equal(result.takenBy, 'server');
    assert.deepEqual(failures, []);
    assert.ok(acknowledged.filter((one) => one.at <= backupStartedAt).length >= 4, 'cases acknowledged before it');
    assert.ok(
      acknowledged.some((one) => one.at > backupStartedAt + 200),
      'traffic went on while it was taken',
    );
  });

  it('never holds the PHI key', async () => {
    const key = (await readFile(path.join(dataDir, 'phi.key'), 'utf8')).trim();
    const tarball = gunzipSync(await readFile(backupFile));
    assert.equal(tarball.indexOf(key), -1, 'the key file text');
    assert.equal(tarball.indexOf(Buffer.from(key, 'base64')), -1, 'the key bytes');
    assert.equal(tarball.indexOf('phi.key'), -1, 'the key file');
    assert.ok(tarball.includes('pglite/PG_VERSION'), 'a tarball of the database folder');
  });

  it('refuses to restore without the PHI key, with another key, or over a database; DATA_DIR is left as it was', async () => {
    // Three commands on three folders, at once: none of them writes.
    const otherKeyDir = path.join(path.dirname(restoredDir), 'other-key');
    await mkdir(restoredDir, { recursive: true });
    await mkdir(otherKeyDir, { recursive: true });
    const before = await listing(dataDir);
    const [missing, otherKey, over] = await Promise.all([
      cli(['restore', backupFile], environment(restoredDir)),
      cli(['restore', backupFile], {
        ...environment(otherKeyDir),
        PHI_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      }),
      cli(['restore', backupFile], environment(dataDir)),
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /The PHI key is not here: a backup never holds it/);
    assert.deepEqual(await listing(restoredDir), []);

    assert.equal(otherKey.code, 1);
    assert.match(otherKey.stderr, /not the key this backup was written with/);
    assert.deepEqual(await listing(otherKeyDir), []);

    assert.equal(over.code, 1);
    assert.match(over.stderr, /holds a database already/);
    assert.deepEqual(await listing(dataDir), before);
  });

  it('restores to a database whose invariants hold, with every case acknowledged before the backup, PHI readable', async () => {
    await copyFile(path.join(dataDir, 'phi.key'), path.join(restoredDir, 'phi.key'));
    const restored = await cli(['restore', backupFile], environment(restoredDir));
    assert.equal(restored.code, 0, restored.stderr);

    const db = await openDatabase({ engine: 'pglite', dataDir: restoredDir });
    try {
      const violations: string[] = [];
      await checkStoredInvariants(db, (message) => violations.push(message));
      assert.deepEqual(violations, []);
      const cipher = phiCipherFor({
        configuredKey: undefined,
        dataDir: restoredDir,
        engine: 'pglite',
        inMemory: false,
      });
      const before = acknowledged.filter((one) => one.at <= backupStartedAt);
      for (const one of before) {
        const { rows } = await db.query<{ id: string; answers: number; sealed: string }>(
          `select c.id, (select count(*)::int from answers a where a.form_response_id = r.id) as answers,
                  (select a.encrypted_value from answers a join questions q on q.id = a.question_id
                    where a.form_response_id = r.id and q.question = 'Medical history') as sealed
             from cases c join form_responses r on r.case_id = c.id where c.idempotency_key = $1`,
          [one.idempotencyKey],
        );
        assert.equal(rows[0]?.id, one.caseId, `case ${one.caseId} acknowledged before the backup`);
        assert.equal(rows[0]!.answers, 3);
        assert.equal(await cipher.decryptText(rows[0]!.sealed), JSON.stringify(one.history));
      }
      const { rows: files } = await db.query<{ content: Buffer }>('select content from file_contents limit 5');
      for (const file of files) assert.equal((await cipher.decryptBytes(file.content)).length, 2048);
    } finally {
      await db.close();
    }

    // A server starts on it (it checks the PHI key against the database's) and takes intakes.
    server = await startServer(environment(restoredDir));
    const ready = await fetch(`${server.url}/ready`);
    assert.equal(ready.status, 200);
    assert.equal(await server.stop(), 0);
    server = undefined;
  });

  it('with no server running, backs up from DATA_DIR itself, and restore --force moves the database aside', async () => {
    const second = path.join(path.dirname(backupFile), 'offline.tar.gz');
    const backedUp = await cli(['backup', second], environment(restoredDir));
    assert.equal(backedUp.code, 0, backedUp.stderr);
    assert.equal((JSON.parse(backedUp.stdout) as { takenBy: string }).takenBy, 'data folder');
    // A backup to a file that exists is refused before it opens anything: at the same time as the restore.
    const [again, forced] = await Promise.all([
      cli(['backup', second], environment(restoredDir)),
      cli(['restore', '--force', second], environment(restoredDir)),
    ]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists already/);

    assert.equal(forced.code, 0, forced.stderr);
    const { previousMovedTo } = JSON.parse(forced.stdout) as { previousMovedTo: string };
    assert.match(path.basename(previousMovedTo), /^pglite\.before-restore-/);
    assert.ok((await readdir(restoredDir)).includes(path.basename(previousMovedTo)));
  });
});

describe('GET /admin/v1/backup', () => {
  let context: TestContext;
  before(async () => (context = await createTestContext()));
  after(() => context.close());

  it('needs the admin token', async () => {
    const response = await context.app.inject({ method: 'GET', url: '/admin/v1/backup' });
    assert.equal(response.statusCode, 401);
  });

  it(`answers 409 ${process.env.TEST_DATABASE_URL ? 'on PostgreSQL (pg_dump)' : 'for a database in memory'}; audits each request`, async () => {
    const response = await context.app.inject({
      method: 'GET',
      url: '/admin/v1/backup',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    if (context.db.engine === 'postgres') {
      assert.equal(response.statusCode, 409);
      assert.match(response.json().error, /pg_dump/);
    } else {
      assert.equal(response.statusCode, 409);
      assert.match(response.json().error, /in memory/);
    }
    await context.services.audit.flush();
    const { rows } = await context.db.query<{ outcome: string }>(
      "select outcome from audit_events where action = 'database.backup'",
    );
    assert.equal(rows.length, 2, 'both requests audited');
  });
});
