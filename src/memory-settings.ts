/**
 * Memory settings for the server's process, applied by memory-restart.ts before anything else loads
 * (server.ts imports it first). Those below can only be set when a process starts:
 *
 * The embedded engine (PGlite inside the server):
 * - MALLOC_ARENA_MAX=1. glibc gives each thread that allocates its own malloc arena (up to eight per core)
 *   and keeps what is freed there for that arena's next allocation. V8 compiles PGlite's WebAssembly
 *   (PostgreSQL itself) on its background threads with tens of MB of compiler memory at a time, and each
 *   thread that took a share keeps it resident. With one arena the memory is reused.
 * - --max-semi-space-size=2 (MB; Node 20's default is 16): a smaller young generation. PGlite's engine, not
 *   the JavaScript heap, is most of the work per request, and the young generation's pages are resident
 *   once touched.
 * - On V8 13 and later (Node 24), --liftoff-only: PostgreSQL's WebAssembly runs on V8's baseline compiler
 *   and is never recompiled by the optimizing one. There, the optimizing compile of one large function (hot
 *   at every start) took 604 MB of compiler memory: the process went to 720-790 MB for a moment at every
 *   start (on Node 20 and 22 the start peaks at 190-216 MB) and stayed at 273 MB under the intake benchmark,
 *   against 205 MB without. It costs the embedded engine 10-40% of its intakes per second
 *   (docs/performance.md); `node --no-liftoff-only dist/server.mjs` keeps the optimizing tier.
 *
 * PostgreSQL (DATABASE_URL set), on V8 13 and later (Node 24):
 * - --max-semi-space-size=16, Node 20's and 22's default. V8 13 lets a semi-space grow to 64 MB where the
 *   Node builds have no pointer compression; under the 200 KB file intake the server then peaked at 323 MB,
 *   against 216 MB with 16, at the same rate.
 *
 * Under the intake benchmark the embedded settings, with 8 MB of shared buffers, cut the server's peak RSS by
 * 40-60 MB (docs/performance.md).
 * Where Node can replace its own process image (`process.execve`, Node 22.15+ and 24) the server restarts
 * itself once, in place (same pid), with them. On older Node, set them in the environment:
 * `MALLOC_ARENA_MAX=1 NODE_OPTIONS=--max-semi-space-size=2` (Node 20 needs none of the V8 13 flags).
 *
 * MALLOC_ARENA_MAX is set on Linux only (glibc's). None of the embedded settings is applied when
 * MALLOC_ARENA_MAX is already set, to any value: that is how to opt out of them. A flag the user gave (on the
 * command line or in NODE_OPTIONS, negated too) is kept as given, which is how to opt out of one. A last
 * setting, V8's heap growing factor (RUNTIME_V8_FLAGS below), is taken while running, on either engine, every
 * Node version and platform.
 */

/** The V8 major version from which V8's own choices need the flags above (13: Node 24). */
const V8_NEEDING_LIMITS = 13;

/** The node flags the embedded engine's process wants on this V8 (`process.versions.v8`). */
export function embeddedNodeFlags(v8Version: string): string[] {
  return ['--max-semi-space-size=2', ...(v8Major(v8Version) >= V8_NEEDING_LIMITS ? ['--liftoff-only'] : [])];
}

/** The node flags a PostgreSQL server's process wants on this V8. */
export function postgresNodeFlags(v8Version: string): string[] {
  return v8Major(v8Version) >= V8_NEEDING_LIMITS ? ['--max-semi-space-size=16'] : [];
}

/** The environment the embedded engine's process wants (MALLOC_ARENA_MAX=1, above). */
export const EMBEDDED_ENVIRONMENT: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' };

function v8Major(v8Version: string): number {
  return Number.parseInt(v8Version, 10) || 0;
}

/**
 * V8's heap growing factor: 1.2 instead of the factor V8 picks (up to 4), on either engine. A request's
 * objects that outlive a scavenge (most of them with PGlite's 2 MB semi-space, many under load with the
 * default) are promoted, and with V8's own factor the old generation grew by some 60 MB of garbage before
 * each full collection. V8 reads this flag at every collection, so it is set at run time
 * (v8.setFlagsFromString): no restart, and every Node version gets it. In alternated runs it lowered the
 * peak from 225-283 MB to 209-233 MB on PGlite and from 163-221 MB to 131-134 MB on PostgreSQL, with no
 * throughput lost (docs/performance.md). A `--heap-growing-percent` given on the command line is kept.
 */
export const RUNTIME_V8_FLAGS: readonly string[] = ['--heap-growing-percent=20'];

/** The run-time V8 flags the server sets (those the command line did not give). */
export function runtimeV8Flags(execArgv: readonly string[]): string[] {
  return RUNTIME_V8_FLAGS.filter((flag) => !isGiven(flag, execArgv));
}

/** A flag counts as given in any form: `--name`, `--name=value`, or negated (`--no-name`). */
function isGiven(flag: string, given: readonly string[]): boolean {
  const name = flag.split('=')[0]!;
  const negated = name.replace(/^--/, '--no-');
  return given.some((argument) => argument === name || argument === negated || argument.startsWith(`${name}=`));
}

export interface ProcessStart {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  execArgv: readonly string[];
  argv: readonly string[];
  /** `process.versions.v8`. */
  v8Version: string;
}

/**
 * The restart the process wants for its engine (above): the node arguments and environment to run with, or
 * undefined for none. A flag the user already gave (on the command line or in NODE_OPTIONS) is kept as given.
 * After the restart the flags are given and MALLOC_ARENA_MAX is set, so it asks for no second one.
 */
export function memoryRestart(current: ProcessStart): { args: string[]; env: NodeJS.ProcessEnv } | undefined {
  const { env, platform, execArgv, argv, v8Version } = current;
  const given = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  const missing = (flags: readonly string[]) => flags.filter((flag) => !isGiven(flag, given));
  const restartWith = (flags: readonly string[], extraEnv: Readonly<Record<string, string>> = {}) => ({
    args: [...flags, ...execArgv, ...argv.slice(1)],
    env: { ...env, ...extraEnv },
  });
  if (env.DATABASE_URL) {
    const flags = missing(postgresNodeFlags(v8Version));
    return flags.length > 0 ? restartWith(flags) : undefined;
  }
  if (env.MALLOC_ARENA_MAX !== undefined) return undefined;
  const flags = missing(embeddedNodeFlags(v8Version));
  // glibc's arenas are Linux's; V8's flags are V8's anywhere.
  if (platform === 'linux') return restartWith(flags, EMBEDDED_ENVIRONMENT);
  return flags.length > 0 ? restartWith(flags) : undefined;
}
