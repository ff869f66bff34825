import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { embeddedNodeFlags, launchSettings, postgresNodeFlags, type LaunchContext } from '../../src/memory-settings.ts';
import { freshDatabase } from '../support/database.ts';
import { startServer } from '../support/server-process.ts';

const NODE_20_V8 = '11.3.244.8-node.33';
const NODE_22_V8 = '12.4.254.21-node.33';
const NODE_24_V8 = '13.6.233.17-node.63';

const launch = (overrides: Partial<LaunchContext> = {}): LaunchContext => ({
  env: { PATH: '/usr/bin' },
  platform: 'linux',
  execArgv: [],
  v8Version: NODE_22_V8,
  ...overrides,
});
const onPostgres = { PATH: '/usr/bin', DATABASE_URL: 'postgres://db/care360' };

describe('memory settings the launcher gives the server (src/memory-settings.ts, bin/care360.mjs)', () => {
  it('PGlite on Linux: one malloc arena, a 2 MB semi-space and a heap growing factor of 1.2', () => {
    assert.deepEqual(launchSettings(launch()), {
      flags: ['--max-semi-space-size=2', '--heap-growing-percent=20'],
      env: { MALLOC_ARENA_MAX: '1' },
    });
  });

  it("on V8 13 (Node 24) PGlite's WebAssembly also stays on the baseline compiler", () => {
    assert.deepEqual(launchSettings(launch({ v8Version: NODE_24_V8 })).flags, [
      '--max-semi-space-size=2',
      '--liftoff-only',
      '--heap-growing-percent=20',
    ]);
    assert.deepEqual(embeddedNodeFlags(NODE_20_V8), ['--max-semi-space-size=2']);
    assert.deepEqual(embeddedNodeFlags(NODE_22_V8), ['--max-semi-space-size=2']);
    assert.deepEqual(embeddedNodeFlags('14.1.0'), ['--max-semi-space-size=2', '--liftoff-only']);
  });

  it('keeps a flag the user gave, to the launcher or in NODE_OPTIONS, in any form', () => {
    for (const given of [
      { execArgv: ['--max-semi-space-size=32'] },
      { env: { NODE_OPTIONS: '--inspect --max-semi-space-size 32' } },
    ]) {
      const settings = launchSettings(launch(given));
      assert.deepEqual(settings.flags, ['--heap-growing-percent=20'], JSON.stringify(given));
      assert.equal(settings.env.MALLOC_ARENA_MAX, '1');
    }
    // The way to keep V8's optimizing tier for PGlite on Node 24: a negated flag counts as given.
    const optimizing = launchSettings(launch({ v8Version: NODE_24_V8, execArgv: ['--no-liftoff-only'] }));
    assert.deepEqual(optimizing.flags, ['--max-semi-space-size=2', '--heap-growing-percent=20']);
    const ownFactor = launchSettings(launch({ env: onPostgres, execArgv: ['--heap-growing-percent=50'] }));
    assert.deepEqual(ownFactor, { flags: [], env: {} });
  });

  it('off Linux PGlite gets the V8 flags but no MALLOC_ARENA_MAX', () => {
    assert.deepEqual(launchSettings(launch({ platform: 'darwin', v8Version: NODE_24_V8 })), {
      flags: ['--max-semi-space-size=2', '--liftoff-only', '--heap-growing-percent=20'],
      env: {},
    });
  });

  it('MALLOC_ARENA_MAX, set to any value, opts out of the embedded settings', () => {
    for (const value of ['4', '1', '']) {
      assert.deepEqual(launchSettings(launch({ env: { MALLOC_ARENA_MAX: value }, v8Version: NODE_24_V8 })), {
        flags: ['--heap-growing-percent=20'],
        env: {},
      });
    }
  });

  it("on PostgreSQL only V8 13's larger young generation is capped, at Node 20's 16 MB semi-space", () => {
    assert.deepEqual(launchSettings(launch({ env: onPostgres })), { flags: ['--heap-growing-percent=20'], env: {} });
    assert.deepEqual(launchSettings(launch({ env: onPostgres, v8Version: NODE_24_V8, platform: 'darwin' })), {
      flags: ['--max-semi-space-size=16', '--heap-growing-percent=20'],
      env: {},
    });
    assert.deepEqual(postgresNodeFlags(NODE_22_V8), []);
    // An empty DATABASE_URL is unset for the server's configuration, so it is the embedded engine here too.
    assert.deepEqual(launchSettings(launch({ env: { DATABASE_URL: '' } })).env, { MALLOC_ARENA_MAX: '1' });
  });

  // On the engine of this run, as the crash test does: PostgreSQL when TEST_DATABASE_URL is set (CI runs both).
  const databaseUrl = process.env.TEST_DATABASE_URL;
  it(`the ${databaseUrl ? 'PostgreSQL' : 'PGlite'} server started by the launcher runs with its settings, serves and stops cleanly`, async () => {
    const database = databaseUrl ? await freshDatabase() : undefined;
    const directory = await mkdtemp(path.join(tmpdir(), 'care360-'));
    // Started as an operator starts it, with no flag of the tests' own.
    const server = await startServer(
      {
        DATA_DIR: directory,
        BOOTSTRAP_API_KEY: 'k',
        ...(database ? { DATABASE_URL: database.url!, PHI_ENCRYPTION_KEY: 'ab'.repeat(32) } : {}),
      },
      { nodeFlags: [] },
    );
    try {
      assert.notEqual(server.pid, server.process.pid, 'the server is a process of its own');
      const environ = readFileSync(`/proc/${server.pid}/environ`, 'utf8').split('\0');
      const flags = readFileSync(`/proc/${server.pid}/cmdline`, 'utf8')
        .split('\0')
        .filter((argument) => argument.startsWith('--'));
      const wanted = launchSettings({
        env: database ? { DATABASE_URL: database.url! } : {},
        platform: process.platform,
        execArgv: [],
        v8Version: process.versions.v8,
      });
      assert.deepEqual(flags, wanted.flags);
      assert.ok(flags.includes('--heap-growing-percent=20'));
      assert.equal(environ.includes('MALLOC_ARENA_MAX=1'), !database, environ.join(' '));
      const forms = await fetch(`${server.url}/api/v1/forms`, { headers: { 'cv-api-key': 'k' } });
      assert.equal(forms.status, 200, 'the process serves');
      assert.equal(await server.stop(), 0, 'and shuts down cleanly on the SIGTERM the launcher forwards');
      assert.throws(() => process.kill(server.pid, 0), { code: 'ESRCH' }, 'the server is gone with the launcher');
    } finally {
      await server.stop();
      await database?.drop();
      await rm(directory, { recursive: true, force: true });
    }
  });
});
