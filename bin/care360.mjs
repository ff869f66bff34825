#!/usr/bin/env node
/**
 * Starts the server: `npm start`, the container's command, the bench and the process tests all run
 *
 *   node bin/care360.mjs [bundle]        (bundle: dist/server.mjs, made by `npm run build`)
 *
 * It picks the memory settings of the configured engine once (src/memory-settings.ts, built into
 * dist/memory-settings.mjs) and starts the server as a child process with them, since Node and V8 take them
 * only when a process starts (`ps` shows them on the server's command line). Signals it receives (SIGINT,
 * SIGTERM, SIGHUP) go to the server, which shuts down gracefully; the launcher then exits with the server's code.
 * The server runs in a process group of its own, so a Ctrl-C at a terminal reaches it once, through here.
 *
 * To run the server without the launcher, give the same settings by hand, for example on PGlite:
 * `MALLOC_ARENA_MAX=1 node --max-semi-space-size=2 --heap-growing-percent=20 dist/server.mjs`.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { launchSettings } from '../dist/memory-settings.mjs';

const bundle = process.argv[2] ?? fileURLToPath(new URL('../dist/server.mjs', import.meta.url));
const { flags, env } = launchSettings({
  env: process.env,
  platform: process.platform,
  execArgv: process.execArgv,
  v8Version: process.versions.v8,
});
const server = spawn(process.execPath, [...flags, ...process.execArgv, bundle, ...process.argv.slice(3)], {
  env: { ...process.env, ...env },
  stdio: ['ignore', 'inherit', 'inherit'],
  detached: true,
});

const forwarded = ['SIGINT', 'SIGTERM', 'SIGHUP'];
for (const signal of forwarded) process.on(signal, () => server.kill(signal));

server.on('error', (error) => {
  process.stderr.write(`care360 launcher: could not start the server: ${error.message}\n`);
  process.exit(1);
});
// A server ended by a signal is reported as a shell does (128 + its number): a launcher that is PID 1 in a
// container cannot end itself with a signal it has a handler for.
server.on('exit', (code, signal) => process.exit(signal ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1)));
