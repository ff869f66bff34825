import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { POSTGRES_TEST_URL } from '../support/database.ts';
import { failedStart, startServer } from '../support/server-process.ts';

// The server as a user runs it: a real process, the embedded database in a data folder, real sockets.
describe('npm start', () => {
  let dataDir: string;
  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'care360-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('serves /health with no configuration, prints a working demo key once, and keeps its data across restarts', async () => {
    const first = await startServer({ DATA_DIR: dataDir, ADMIN_TOKEN: 't', LOG_LEVEL: 'info' });
    let demoKey: string;
    try {
      assert.deepEqual(await (await fetch(`${first.url}/health`)).json(), { status: 'ok' });
      const match = /cv-api-key: (c360_[A-Za-z0-9_-]+)/.exec(first.output());
      assert.ok(match?.[1], first.output());
      demoKey = match[1];
      const forms = await fetch(`${first.url}/api/v1/forms`, { headers: { 'cv-api-key': demoKey } });
      assert.equal(forms.status, 200);
      const denied = await fetch(`${first.url}/api/v1/forms`, { headers: { 'cv-api-key': 'c360_wrong' } });
      assert.equal(denied.status, 401);
      // The key is a secret: printed for the operator, never in the structured log lines.
      const logLines = first
        .output()
        .split('\n')
        .filter((line) => line.startsWith('{'));
      assert.ok(logLines.length > 0);
      assert.ok(logLines.every((line) => !line.includes(demoKey)));
    } finally {
      assert.equal(await first.stop('SIGTERM'), 0);
    }

    const second = await startServer({ DATA_DIR: dataDir, ADMIN_TOKEN: 't' });
    try {
      assert.doesNotMatch(second.output(), /cv-api-key:/, 'the demo key is printed only once');
      const organizations = await fetch(`${second.url}/admin/v1/organizations`, {
        headers: { authorization: 'Bearer t' },
      });
      assert.deepEqual(
        (await organizations.json()).organizations.map((o: { name: string }) => o.name),
        ['Demo organization'],
      );
      const forms = await fetch(`${second.url}/api/v1/forms`, { headers: { 'cv-api-key': demoKey } });
      assert.equal(forms.status, 200, 'the demo key still authenticates after a restart');
    } finally {
      assert.equal(await second.stop('SIGINT'), 0);
    }
  });

  it('with ADMIN_TOKEN and BOOTSTRAP_API_KEY: the admin-created key and the bootstrap key both authenticate', async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'care360-'));
    const server = await startServer({ DATA_DIR: directory, ADMIN_TOKEN: 't', BOOTSTRAP_API_KEY: 'k' });
    try {
      assert.doesNotMatch(server.output(), /cv-api-key:/, 'no demo organization when a bootstrap key is set');
      const created = await fetch(`${server.url}/admin/v1/organizations`, {
        method: 'POST',
        headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Acme' }),
      });
      assert.equal(created.status, 201);
      const { organizationId, apiKey } = await created.json();
      assert.ok(organizationId);
      for (const key of [apiKey, 'k']) {
        const response = await fetch(`${server.url}/api/v1/forms`, { headers: { 'cv-api-key': key } });
        assert.equal(response.status, 200, key === 'k' ? 'bootstrap key' : 'admin-created key');
      }
    } finally {
      await server.stop();
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('refuses to start with a PHI key other than the one the database was written with', async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'care360-'));
    const firstKey = randomBytes(32).toString('hex');
    try {
      const server = await startServer({ DATA_DIR: directory, BOOTSTRAP_API_KEY: 'k', PHI_ENCRYPTION_KEY: firstKey });
      assert.equal(await server.stop(), 0);
      const refused = await failedStart({
        DATA_DIR: directory,
        BOOTSTRAP_API_KEY: 'k',
        PHI_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      });
      assert.equal(refused.code, 1);
      assert.match(refused.output, /PHI encryption key does not match/);
      const again = await startServer({ DATA_DIR: directory, BOOTSTRAP_API_KEY: 'k', PHI_ENCRYPTION_KEY: firstKey });
      assert.equal(await again.stop(), 0);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('says why it cannot start in one line that names the setting and what to do, with no stack trace', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as AddressInfo).port;
    const closedPort = 1; // nothing listens there
    const postgres = new URL(POSTGRES_TEST_URL);
    postgres.pathname = '/care360_no_such_database';
    const file = path.join(dataDir, 'a-file');
    await writeFile(file, 'not a folder');
    const cases: [string, Record<string, string>, RegExp][] = [
      [
        'unreachable database',
        { DATABASE_URL: `postgres://care360:secret-password@127.0.0.1:${closedPort}/care360` },
        new RegExp(
          `cannot reach PostgreSQL at 127\\.0\\.0\\.1:${closedPort} \\(DATABASE_URL\\): connection refused\\. Check`,
        ),
      ],
      [
        'missing database',
        { DATABASE_URL: postgres.toString() },
        /database "care360_no_such_database" does not exist on .* \(DATABASE_URL\): create it \(createdb care360_no_such_database\)/,
      ],
      [
        'port in use',
        { DATA_DIR: dataDir, PORT: String(takenPort) },
        new RegExp(
          `port ${takenPort} on 127\\.0\\.0\\.1 is already in use \\(PORT, HOST\\): stop what listens there, or set PORT`,
        ),
      ],
      [
        'PORT not a number',
        { PORT: 'abc' },
        /Invalid configuration: PORT: must be a whole number\. Correct these settings/,
      ],
      [
        'HOST not of this machine',
        { DATA_DIR: dataDir, HOST: '192.0.2.1' },
        /HOST 192\.0\.2\.1 is not an address of this machine: set HOST to/,
      ],
      [
        'DATA_DIR under a file',
        { DATA_DIR: path.join(file, 'data') },
        /cannot use DATA_DIR \(.*\) for the embedded database: a part of the path is a file/,
      ],
    ];
    // With DATABASE_URL, a PHI key: the failure is then about the database (without one it is refused first).
    const phiKey = randomBytes(32).toString('base64');
    try {
      for (const [name, environment, expected] of cases) {
        const { code, errors } = await failedStart({
          HOST: '127.0.0.1',
          LOG_LEVEL: 'warn',
          ...(environment.DATABASE_URL ? { PHI_ENCRYPTION_KEY: phiKey } : {}),
          ...environment,
        });
        assert.equal(code, 1, name);
        assert.match(errors, /^care360 failed to start: [^\n]+\n$/, `${name}: one line on stderr: ${errors}`);
        assert.match(errors, expected, name);
        assert.doesNotMatch(errors, /secret-password/, `${name}: the password stays out`);
      }
    } finally {
      taken.close();
    }
  });

  it('refuses to start on invalid configuration, naming the setting', async () => {
    const { code, output } = await failedStart({ PORT: 'eighty', DATABASE_URL: 'mysql://x', DATA_DIR: dataDir });
    assert.equal(code, 1);
    assert.match(output, /Invalid configuration/);
    assert.match(output, /PORT/);
    assert.match(output, /DATABASE_URL: must be a postgres/);
  });
});
