import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { failedStart, runCli, startServer } from '../support/server-process.ts';

/**
 * The embedded database has one owner at a time (src/db/data-dir-lock.ts), with real processes. Issue 16,
 * defect 14: two servers on one DATA_DIR both started, and a CLI command run beside a server wrote an
 * organization the server never saw and then lost.
 */
describe('one owner of the embedded database at a time', () => {
  let dataDir: string;
  const admin = { authorization: 'Bearer t' };
  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'care360-lock-'));
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  const organizationNames = async (url: string) =>
    (
      (await (await fetch(`${url}/admin/v1/organizations`, { headers: admin })).json()) as {
        organizations: { name: string }[];
      }
    ).organizations
      .map((organization) => organization.name)
      .sort();

  it('refuses a second server and a CLI command beside a running server, saying who holds the folder and what to do', async () => {
    const server = await startServer({ DATA_DIR: dataDir, ADMIN_TOKEN: 't', BOOTSTRAP_API_KEY: 'k' });
    try {
      const pid = server.pid;
      const second = await failedStart({ DATA_DIR: dataDir, PORT: '0' });
      assert.equal(second.code, 1);
      assert.equal(second.output.trim().split('\n').length, 1, second.output);
      assert.match(
        second.output,
        new RegExp(`DATA_DIR .* is in use by another care360 process \\(pid ${pid}, server\\.mjs`),
      );
      assert.match(second.output, /Stop that process first, or give this one another DATA_DIR/);

      const organizations = await organizationNames(server.url);
      const cli = await runCli(['org', 'create', 'CLI Org'], { DATA_DIR: dataDir });
      assert.equal(cli.code, 1);
      assert.equal(cli.stdout, '', 'no key printed: nothing was created');
      assert.match(cli.stderr, new RegExp(`in use by another care360 process \\(pid ${pid}`));
      assert.match(
        cli.stderr,
        new RegExp(
          `This command did nothing\\. Stop that process and run it again, or do the same through the running server's operator API, ${server.url}/admin/v1`,
        ),
      );
      assert.deepEqual(await organizationNames(server.url), organizations, 'the CLI wrote nothing');
    } finally {
      assert.equal(await server.stop(), 0);
    }
    // Stopped: the lock is gone, and the CLI's organization is kept and known to the next server.
    await assert.rejects(readFile(path.join(dataDir, 'care360.lock')), { code: 'ENOENT' });
    const cli = await runCli(['org', 'create', 'CLI Org'], { DATA_DIR: dataDir });
    assert.equal(cli.code, 0, cli.stderr);
    const { apiKey } = JSON.parse(cli.stdout) as { apiKey: string };
    const again = await startServer({ DATA_DIR: dataDir, ADMIN_TOKEN: 't' });
    try {
      assert.ok((await organizationNames(again.url)).includes('CLI Org'));
      const forms = await fetch(`${again.url}/api/v1/forms`, { headers: { 'cv-api-key': apiKey } });
      assert.equal(forms.status, 200, 'the key the CLI printed authenticates');
    } finally {
      await again.stop();
    }
  });

  it('starts again at once after a SIGKILL: the dead process’s lock does not block', async () => {
    const server = await startServer({ DATA_DIR: dataDir });
    await server.stop('SIGKILL');
    const lock = JSON.parse(readFileSync(path.join(dataDir, 'care360.lock'), 'utf8')) as { pid: number };
    assert.equal(lock.pid, server.pid, 'the killed server left its lock');
    const restarted = await startServer({ DATA_DIR: dataDir });
    assert.equal(await restarted.stop(), 0);
  });

  it('of two servers started together on one folder, exactly one serves', async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'care360-lock-'));
    try {
      const results = await Promise.allSettled([
        startServer({ DATA_DIR: directory }),
        startServer({ DATA_DIR: directory }),
      ]);
      const started = results.filter((result) => result.status === 'fulfilled');
      const refused = results.filter((result) => result.status === 'rejected');
      assert.equal(started.length, 1, JSON.stringify(results.map((result) => result.status)));
      assert.match(String((refused[0] as PromiseRejectedResult).reason), /is in use by another care360 process/);
      await (started[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof startServer>>>).value.stop();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('tells a live owner from a reused pid and a dead or silent owner on another host', async () => {
    const file = path.join(dataDir, 'care360.lock');
    const procStart = readFileSync(`/proc/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]!;
    const lock = (fields: Record<string, unknown>) =>
      JSON.stringify({ pid: process.pid, hostname: hostname(), token: 'x', command: 'test', since: 'now', ...fields });

    // This test process, with its own start time: a live owner.
    await writeFile(file, lock({ startTime: procStart }));
    const refused = await failedStart({ DATA_DIR: dataDir });
    assert.match(refused.output, new RegExp(`in use by another care360 process \\(pid ${process.pid}, test`));
    // The same pid with another start time: the pid was reused after the owner died.
    await writeFile(file, lock({ startTime: String(Number(procStart) - 1) }));
    await (await startServer({ DATA_DIR: dataDir })).stop();

    // Another host: its pid cannot be checked, so the lock holds while it is refreshed (every 10 s) ...
    await writeFile(file, lock({ hostname: 'another-host' }));
    assert.match((await failedStart({ DATA_DIR: dataDir })).output, /pid \d+ on another-host/);
    // ... and is stale once it has not been for a minute.
    const old = new Date(Date.now() - 61_000);
    await utimes(file, old, old);
    await (await startServer({ DATA_DIR: dataDir })).stop();
  });
});
