import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  embeddedNodeFlags,
  memoryRestart,
  postgresNodeFlags,
  runtimeV8Flags,
  type ProcessStart,
} from '../../src/memory-settings.ts';
import { freshDatabase } from '../support/database.ts';
import { startServer } from '../support/server-process.ts';

const NODE_20_V8 = '11.3.244.8-node.33';
const NODE_22_V8 = '12.4.254.21-node.33';
const NODE_24_V8 = '13.6.233.17-node.63';

const start = (overrides: Partial<ProcessStart> = {}): ProcessStart => ({
  env: { PATH: '/usr/bin' },
  platform: 'linux',
  execArgv: [],
  argv: ['/usr/bin/node', '/srv/care360/dist/server.mjs', '--flag'],
  v8Version: NODE_22_V8,
  ...overrides,
});
const onPostgres = { PATH: '/usr/bin', DATABASE_URL: 'postgres://db/care360' };

describe('memory settings of the server process (src/memory-settings.ts)', () => {
  it('restarts PGlite on Linux with one malloc arena and a 2 MB semi-space, keeping the arguments', () => {
    assert.deepEqual(memoryRestart(start({ execArgv: ['--enable-source-maps'] })), {
      args: ['--max-semi-space-size=2', '--enable-source-maps', '/srv/care360/dist/server.mjs', '--flag'],
      env: { PATH: '/usr/bin', MALLOC_ARENA_MAX: '1' },
    });
  });

  it("on V8 13 (Node 24) PGlite's WebAssembly also stays on the baseline compiler", () => {
    assert.deepEqual(memoryRestart(start({ v8Version: NODE_24_V8 }))?.args, [
      '--max-semi-space-size=2',
      '--liftoff-only',
      '/srv/care360/dist/server.mjs',
      '--flag',
    ]);
    assert.deepEqual(embeddedNodeFlags(NODE_20_V8), ['--max-semi-space-size=2']);
    assert.deepEqual(embeddedNodeFlags(NODE_22_V8), ['--max-semi-space-size=2']);
    assert.deepEqual(embeddedNodeFlags('14.1.0'), ['--max-semi-space-size=2', '--liftoff-only']);
  });

  it('keeps a flag the user gave, on the command line or in NODE_OPTIONS', () => {
    for (const given of [
      { execArgv: ['--max-semi-space-size=32'] },
      { env: { NODE_OPTIONS: '--inspect --max-semi-space-size 32' } },
    ]) {
      const restart = memoryRestart(start(given));
      assert.ok(restart);
      assert.ok(!restart.args.includes('--max-semi-space-size=2'), JSON.stringify(given));
      assert.equal(restart.env.MALLOC_ARENA_MAX, '1');
    }
    const liftoffGiven = memoryRestart(start({ v8Version: NODE_24_V8, execArgv: ['--liftoff-only'] }));
    assert.equal(liftoffGiven?.args.filter((argument) => argument === '--liftoff-only').length, 1);
    // The way to keep V8's optimizing tier for PGlite on Node 24: a negated flag counts as given.
    const optimizing = memoryRestart(start({ v8Version: NODE_24_V8, execArgv: ['--no-liftoff-only'] }));
    assert.deepEqual(optimizing?.args, [
      '--max-semi-space-size=2',
      '--no-liftoff-only',
      '/srv/care360/dist/server.mjs',
      '--flag',
    ]);
    assert.equal(
      memoryRestart(start({ env: onPostgres, v8Version: NODE_24_V8, execArgv: ['--max-semi-space-size=64'] })),
      undefined,
    );
  });

  it('off Linux PGlite gets the V8 flags but no MALLOC_ARENA_MAX, and asks for no second restart', () => {
    const first = memoryRestart(start({ platform: 'darwin', v8Version: NODE_24_V8 }));
    assert.deepEqual(first, {
      args: ['--max-semi-space-size=2', '--liftoff-only', '/srv/care360/dist/server.mjs', '--flag'],
      env: { PATH: '/usr/bin' },
    });
    const restarted = start({
      platform: 'darwin',
      v8Version: NODE_24_V8,
      execArgv: first!.args.slice(0, 2),
      env: first!.env,
    });
    assert.equal(memoryRestart(restarted), undefined);
  });

  it('MALLOC_ARENA_MAX, set to any value, opts out of the embedded settings (and is what ends the restart)', () => {
    assert.equal(memoryRestart(start({ env: { MALLOC_ARENA_MAX: '4' } })), undefined);
    assert.equal(memoryRestart(start({ env: { MALLOC_ARENA_MAX: '1' }, v8Version: NODE_24_V8 })), undefined);
  });

  it("on PostgreSQL only V8 13's larger young generation is capped, at Node 20's 16 MB semi-space", () => {
    assert.equal(memoryRestart(start({ env: onPostgres })), undefined);
    assert.equal(memoryRestart(start({ env: onPostgres, v8Version: NODE_20_V8 })), undefined);
    const restart = memoryRestart(start({ env: onPostgres, v8Version: NODE_24_V8, platform: 'darwin' }));
    assert.deepEqual(restart, {
      args: ['--max-semi-space-size=16', '/srv/care360/dist/server.mjs', '--flag'],
      env: onPostgres,
    });
    assert.equal(
      memoryRestart(start({ env: onPostgres, v8Version: NODE_24_V8, execArgv: ['--max-semi-space-size=16'] })),
      undefined,
      'the restarted process asks for no second restart',
    );
    assert.deepEqual(postgresNodeFlags(NODE_22_V8), []);
  });

  it('sets a heap growing factor of 1.2 at run time, unless the command line gives one', () => {
    assert.deepEqual(runtimeV8Flags([]), ['--heap-growing-percent=20']);
    assert.deepEqual(runtimeV8Flags(['--enable-source-maps']), ['--heap-growing-percent=20']);
    assert.deepEqual(runtimeV8Flags(['--heap-growing-percent=50']), []);
  });

  const canRestart = typeof (process as { execve?: unknown }).execve === 'function';

  // On the engine of this run, as the crash test does: PostgreSQL when TEST_DATABASE_URL is set (CI runs both).
  const databaseUrl = process.env.TEST_DATABASE_URL;
  it(`the ${databaseUrl ? 'PostgreSQL' : 'PGlite'} server runs with its flags where Node can restart in place, unchanged where it cannot, and serves`, async () => {
    const database = databaseUrl ? await freshDatabase() : undefined;
    const directory = await mkdtemp(path.join(tmpdir(), 'care360-'));
    const server = await startServer({
      DATA_DIR: directory,
      BOOTSTRAP_API_KEY: 'k',
      ...(database ? { DATABASE_URL: database.url!, PHI_ENCRYPTION_KEY: 'ab'.repeat(32) } : {}),
    });
    try {
      const pid = server.process.pid!;
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const flags = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        .split('\0')
        .filter((argument) => argument.startsWith('--'));
      const wanted = database ? postgresNodeFlags(process.versions.v8) : embeddedNodeFlags(process.versions.v8);
      assert.deepEqual(flags, canRestart ? wanted : []);
      assert.equal(environ.includes('MALLOC_ARENA_MAX=1'), canRestart && !database, environ.join(' '));
      const forms = await fetch(`${server.url}/api/v1/forms`, { headers: { 'cv-api-key': 'k' } });
      assert.equal(forms.status, 200, 'the process serves');
      assert.equal(await server.stop(), 0, 'and shuts down cleanly');
    } finally {
      await server.stop();
      await database?.drop();
      await rm(directory, { recursive: true, force: true });
    }
  });
});
