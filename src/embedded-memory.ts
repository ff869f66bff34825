/**
 * Memory settings for the embedded database's process, applied by embedded-memory-restart.ts before
 * anything else loads (server.ts imports it first). Both only matter where PGlite runs inside the server,
 * and both can only be set when a process starts:
 *
 * - MALLOC_ARENA_MAX=1. glibc gives each thread that allocates its own malloc arena (up to eight per core)
 *   and keeps what is freed there for that arena's next allocation. V8 compiles PGlite's WebAssembly
 *   (PostgreSQL itself) on its background threads with tens of MB of compiler memory at a time, and each
 *   thread that took a share keeps it resident. With one arena the memory is reused.
 * - --max-semi-space-size=2 (MB; Node's default is 16): a smaller young generation. PGlite's engine, not
 *   the JavaScript heap, is most of the work per request, and the young generation's pages are resident
 *   once touched.
 *
 * Under the intake benchmark they, with 8 MB of shared buffers, cut the server's peak RSS by 40-60 MB
 * (docs/performance.md).
 * Where Node can replace its own process image (`process.execve`, Node 22.15+ and 24) the server restarts
 * itself once, in place (same pid), with them. On older Node, set them in the environment:
 * `MALLOC_ARENA_MAX=1 NODE_OPTIONS=--max-semi-space-size=2`.
 *
 * Nothing changes on PostgreSQL (DATABASE_URL set), off Linux, or when MALLOC_ARENA_MAX is already set, to
 * any value: that is also how to opt out. A third setting, V8's heap growing factor (RUNTIME_V8_FLAGS below),
 * is taken while running, on either engine, every Node version and platform.
 */
export const EMBEDDED_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/** The environment the embedded engine's process wants (MALLOC_ARENA_MAX=1, above). */
export const EMBEDDED_ENVIRONMENT: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' };

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

function isGiven(flag: string, given: readonly string[]): boolean {
  const name = flag.split('=')[0]!;
  return given.some((argument) => argument === name || argument.startsWith(`${name}=`));
}

export interface ProcessStart {
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  execArgv: readonly string[];
  argv: readonly string[];
}

/**
 * The restart the embedded engine's process wants: the node arguments and environment to run with, or
 * undefined for none. A flag the user already gave (on the command line or in NODE_OPTIONS) is kept as given.
 */
export function embeddedMemoryRestart(current: ProcessStart): { args: string[]; env: NodeJS.ProcessEnv } | undefined {
  const { env, platform, execArgv, argv } = current;
  if (platform !== 'linux' || env.DATABASE_URL || env.MALLOC_ARENA_MAX !== undefined) return undefined;
  const given = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  const flags = EMBEDDED_NODE_FLAGS.filter((flag) => !isGiven(flag, given));
  return { args: [...flags, ...execArgv, ...argv.slice(1)], env: { ...env, ...EMBEDDED_ENVIRONMENT } };
}
