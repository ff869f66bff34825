import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { keyIdOf, PhiCipher } from '../../src/crypto/phi.ts';
import { openDatabase } from '../../src/db/database.ts';
import { freshDatabase } from '../support/database.ts';
import { failedStart, runCli, startServer, type RunningServer } from '../support/server-process.ts';

/**
 * PHI keys with real processes (issue 16, defect 13): on PostgreSQL a key must be given; on the embedded default
 * the generated key file is announced with where it is; and a rotation from one key to another, by `phi rotate`
 * while a server serves intakes, on the engine of the run (PostgreSQL when TEST_DATABASE_URL is set).
 */
const databaseUrl = process.env.TEST_DATABASE_URL;

const logMessages = (server: { output(): string } | { output: string }) =>
  (typeof server.output === 'string' ? server.output : server.output())
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string; phiKeyFile?: string });

describe('PHI keys of a server process', () => {
  let directory: string;
  before(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'care360-keys-'));
  });
  after(() => rm(directory, { recursive: true, force: true }));

  it('with DATABASE_URL and no PHI_ENCRYPTION_KEY: refuses to start, in one line that says how to make a key', async () => {
    // Refused before it connects: the database named here does not exist.
    const refused = await failedStart({ DATABASE_URL: 'postgres://care360@127.0.0.1:1/none', DATA_DIR: directory });
    assert.equal(refused.code, 1);
    assert.deepEqual(refused.output.trim().split('\n'), [
      'care360 failed to start: PHI_ENCRYPTION_KEY is required with DATABASE_URL (every server of the database needs the same key): ' +
        'make one with `openssl rand -base64 32` or `npm run cli -- phi new-key`',
    ]);
    await assert.rejects(stat(path.join(directory, 'phi.key')), { code: 'ENOENT' }, 'no key file made beside');
  });

  it('on the embedded default: generates DATA_DIR/phi.key (0600) and logs where it is and to back it up', async () => {
    const dataDir = path.join(directory, 'embedded');
    const keyFile = path.join(dataDir, 'phi.key');
    const first = await startServer({ DATA_DIR: dataDir, BOOTSTRAP_API_KEY: 'k', LOG_LEVEL: 'info' });
    await first.stop();
    const announced = logMessages(first).find((line) => line.phiKeyFile);
    assert.equal(announced?.level, 40, 'a warning when generated');
    assert.equal(
      announced?.msg,
      `PHI encryption key generated into ${keyFile}: back it up with the data folder; without it no encrypted answer or file can be read`,
    );
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    const second = await startServer({ DATA_DIR: dataDir, BOOTSTRAP_API_KEY: 'k', LOG_LEVEL: 'info' });
    await second.stop();
    const again = logMessages(second).find((line) => line.phiKeyFile);
    assert.equal(again?.level, 30);
    assert.match(again!.msg, new RegExp(`^PHI encryption key read from ${keyFile}: back it up with the data folder`));
  });

  it(`rotates to a new key with \`phi rotate\` while the server serves, on ${databaseUrl ? 'PostgreSQL' : 'PGlite (through the server)'}`, async () => {
    const [oldKey, newKey] = [randomBytes(32).toString('base64'), randomBytes(32).toString('hex')];
    const oldId = keyIdOf(Buffer.from(oldKey, 'base64'));
    const newId = keyIdOf(Buffer.from(newKey, 'hex'));
    const database = databaseUrl ? await freshDatabase() : undefined;
    const dataDir = path.join(directory, 'rotation');
    const where: Record<string, string> = database ? { DATABASE_URL: database.url! } : { DATA_DIR: dataDir };
    const base = {
      ...where,
      ADMIN_TOKEN: 't',
      BOOTSTRAP_API_KEY: 'k',
      RATE_LIMIT_PER_KEY: '0',
      RATE_LIMIT_PER_ADDRESS: '0',
    };
    const sent = new Set<string>();
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(500)]);
    let n = 0;
    const intake = async (server: RunningServer) => {
      const diagnosis = `diagnosis ${++n}`;
      sent.add(JSON.stringify(diagnosis));
      const response = await fetch(`${server.url}/api/v1/dynamic-case`, {
        method: 'POST',
        headers: { 'cv-api-key': 'k', 'content-type': 'application/json' },
        body: JSON.stringify({
          firstName: 'Key',
          lastName: 'Rotation',
          email: `rotation${n}@example.com`,
          formTitle: 'Rotation',
          questions: [
            { question: 'Current weight', type: 'TEXT', required: true, answer: '180' },
            { question: 'Diagnosis', type: 'TEXT', required: true, phi: true, answer: diagnosis },
            {
              question: 'ID',
              type: 'FILE',
              required: true,
              answer: [{ name: 'id.png', data: png.toString('base64') }],
            },
          ],
        }),
      });
      assert.equal(response.status, 200, await response.text());
    };

    try {
      const first = await startServer({ ...base, PHI_ENCRYPTION_KEY: oldKey });
      for (let index = 0; index < 5; index++) await intake(first);
      await first.stop();

      const keys = { PHI_ENCRYPTION_KEY: newKey, PHI_ENCRYPTION_OLD_KEYS: oldKey };
      const second = await startServer({ ...base, ...keys });
      try {
        // Intakes go on while the rotation runs: the server serves throughout.
        let rotating = true;
        const traffic = (async () => {
          while (rotating) await intake(second);
        })();
        // On PostgreSQL the CLI opens the database itself (with the keys); on the embedded database the server
        // holds it, and the CLI works through its operator API (with the admin token).
        const rotation = await runCli(
          ['phi', 'rotate', '--batch-size', '2'],
          database ? { ...base, ...keys } : { DATA_DIR: dataDir, ADMIN_TOKEN: 't' },
        ).finally(() => (rotating = false));
        await traffic;
        assert.equal(rotation.code, 0, rotation.stderr);
        const result = JSON.parse(rotation.stdout) as Record<string, unknown>;
        assert.deepEqual(
          { done: result.done, answers: result.answers, files: result.files, remaining: result.remaining },
          { done: true, answers: 5, files: 5, remaining: 0 },
        );
        assert.deepEqual(result.retiredKeyIds, [oldId]);
      } finally {
        await second.stop();
      }

      // The old key is retired: the new key alone starts; the old key alone is refused.
      await (await startServer({ ...base, PHI_ENCRYPTION_KEY: newKey })).stop();
      const refused = await failedStart({ ...base, PHI_ENCRYPTION_KEY: oldKey });
      assert.equal(refused.code, 1);
      assert.match(
        refused.output,
        new RegExp(`PHI encryption key does not match the database: it holds PHI sealed under key ${newId}`),
      );

      // Every value is sealed under the new key, opens with it alone and is what was sent.
      const db = await openDatabase(
        database ? { engine: 'postgres', url: database.url!, poolSize: 1 } : { engine: 'pglite', dataDir },
      );
      try {
        const cipher = new PhiCipher({ key: Buffer.from(newKey, 'hex') });
        const { rows: answers } = await db.query<{ encrypted_value: string }>(
          'select encrypted_value from answers where encrypted_value is not null',
        );
        assert.equal(answers.length, sent.size);
        for (const row of answers) {
          assert.ok(row.encrypted_value.startsWith(`v2.${newId}.`));
          assert.ok(sent.has(await cipher.decryptText(row.encrypted_value)));
        }
        const { rows: files } = await db.query<{ content: Uint8Array }>('select content from file_contents');
        assert.equal(files.length, sent.size);
        const digest = createHash('sha256').update(png).digest('hex');
        for (const row of files) {
          const opened = await cipher.decryptBytes(Buffer.from(row.content));
          assert.equal(createHash('sha256').update(opened).digest('hex'), digest);
        }
      } finally {
        await db.close();
      }
    } finally {
      await database?.drop();
    }
  });
});
