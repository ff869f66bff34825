import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { embeddedMemoryRestart, runtimeV8Flags, type ProcessStart } from '../../src/embedded-memory.ts';
import { startServer } from '../support/server-process.ts';

const start = (overrides: Partial<ProcessStart> = {}): ProcessStart => ({
  env: { PATH: '/usr/bin' },
  platform: 'linux',
  execArgv: [],
  argv: ['/usr/bin/node', '/srv/care360/dist/server.mjs', '--flag'],
  ...overrides,
});

describe('embedded engine memory settings (src/embedded-memory.ts)', () => {
  it('restarts PGlite on Linux with one malloc arena and a 2 MB semi-space, keeping the arguments', () => {
    assert.deepEqual(embeddedMemoryRestart(start({ execArgv: ['--enable-source-maps'] })), {
      args: ['--max-semi-space-size=2', '--enable-source-maps', '/srv/care360/dist/server.mjs', '--flag'],
      env: { PATH: '/usr/bin', MALLOC_ARENA_MAX: '1' },
    });
  });

  it('keeps a semi-space size the user gave, on the command line or in NODE_OPTIONS', () => {
    for (const given of [
      { execArgv: ['--max-semi-space-size=32'] },
      { env: { NODE_OPTIONS: '--inspect --max-semi-space-size 32' } },
    ]) {
      const restart = embeddedMemoryRestart(start(given));
      assert.ok(restart);
      assert.ok(!restart.args.includes('--max-semi-space-size=2'), JSON.stringify(given));
      assert.equal(restart.env.MALLOC_ARENA_MAX, '1');
    }
  });

  it('changes nothing on PostgreSQL, off Linux, or when MALLOC_ARENA_MAX is set (the opt-out)', () => {
    assert.equal(embeddedMemoryRestart(start({ env: { DATABASE_URL: 'postgres://db/care360' } })), undefined);
    assert.equal(embeddedMemoryRestart(start({ platform: 'darwin' })), undefined);
    assert.equal(embeddedMemoryRestart(start({ env: { MALLOC_ARENA_MAX: '4' } })), undefined);
  });

  it('sets a heap growing factor of 1.2 at run time, unless the command line gives one', () => {
    assert.deepEqual(runtimeV8Flags([]), ['--heap-growing-percent=20']);
    assert.deepEqual(runtimeV8Flags(['--enable-source-maps']), ['--heap-growing-percent=20']);
    assert.deepEqual(runtimeV8Flags(['--heap-growing-percent=50']), []);
  });

  it('the server process runs with them where Node can restart in place, and unchanged where it cannot', async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'care360-'));
    const server = await startServer({ DATA_DIR: directory, BOOTSTRAP_API_KEY: 'k' });
    try {
      const pid = server.process.pid!;
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const canRestart = typeof (process as { execve?: unknown }).execve === 'function';
      assert.equal(environ.includes('MALLOC_ARENA_MAX=1'), canRestart, environ.join(' '));
      assert.equal(cmdline.includes('--max-semi-space-size=2'), canRestart, cmdline.join(' '));
      const forms = await fetch(`${server.url}/api/v1/forms`, { headers: { 'cv-api-key': 'k' } });
      assert.equal(forms.status, 200, 'the restarted process serves');
      assert.equal(await server.stop(), 0, 'and shuts down cleanly');
    } finally {
      await server.stop();
      await rm(directory, { recursive: true, force: true });
    }
  });
});
