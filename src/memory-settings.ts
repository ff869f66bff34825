/**
 * The memory settings of the server's process, by engine: the rules the launcher (bin/care360.mjs) applies
 * when it starts dist/server.mjs. Node and V8 read them only at start, so they are given there and never
 * changed by the running server. Why each one, and what it costs and saves: docs/performance.md.
 *
 * The embedded engine (PGlite runs PostgreSQL as WebAssembly inside the server):
 * - MALLOC_ARENA_MAX=1 (glibc, Linux): V8 compiles the engine's WebAssembly on background threads, and glibc
 *   keeps each thread's freed compiler memory in an arena of its own; with one arena it is reused.
 * - --max-semi-space-size=2: a small young generation. The engine, not the JavaScript heap, does most of the
 *   work per request, and the young generation's pages stay resident once touched.
 * - From V8 13 (Node 24), --liftoff-only: the engine's WebAssembly stays on V8's baseline compiler, whose
 *   optimizing tier-up of one large function takes hundreds of MB of compiler memory at every start.
 *
 * PostgreSQL (DATABASE_URL set), from V8 13: --max-semi-space-size=16, the size Node 20 and 22 use, where V8
 * would let a semi-space grow to 64 MB.
 *
 * Either engine: --heap-growing-percent=20. With a small young generation most of a request's objects are
 * promoted, and V8's own growing factor lets the old generation fill with garbage before each full collection.
 *
 * Opting out: a flag given to the launcher (`node --no-liftoff-only bin/care360.mjs`) or in NODE_OPTIONS is
 * kept as given, negated too; MALLOC_ARENA_MAX set to any value keeps all the embedded engine's settings out.
 */

/** The V8 major version from which V8's own choices need the limits above (13: Node 24). */
const V8_NEEDING_LIMITS = 13;

/** The node flags the embedded engine's process wants on this V8 (`process.versions.v8`). */
export function embeddedNodeFlags(v8Version: string): string[] {
  return ['--max-semi-space-size=2', ...(v8Major(v8Version) >= V8_NEEDING_LIMITS ? ['--liftoff-only'] : [])];
}

/** The node flags a PostgreSQL server's process wants on this V8. */
export function postgresNodeFlags(v8Version: string): string[] {
  return v8Major(v8Version) >= V8_NEEDING_LIMITS ? ['--max-semi-space-size=16'] : [];
}

/** The node flags either engine's process wants. */
export const COMMON_NODE_FLAGS: readonly string[] = ['--heap-growing-percent=20'];

/** The environment the embedded engine's process wants on Linux. */
export const EMBEDDED_ENVIRONMENT: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' };

function v8Major(v8Version: string): number {
  return Number.parseInt(v8Version, 10) || 0;
}

/** A flag counts as given in any form: `--name`, `--name=value`, `--name value`, or negated (`--no-name`). */
function isGiven(flag: string, given: readonly string[]): boolean {
  const name = flag.split('=')[0]!;
  const negated = name.replace(/^--/, '--no-');
  return given.some((argument) => argument === name || argument === negated || argument.startsWith(`${name}=`));
}

/** What the launcher knows when it starts the server. */
export interface LaunchContext {
  /** The launcher's environment, which the server inherits. */
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
  /** The launcher's own node flags, which the server is given too. */
  execArgv: readonly string[];
  /** `process.versions.v8`: the launcher starts the server with its own node binary. */
  v8Version: string;
}

/**
 * The node flags to start the server with and the variables to add to its environment. The engine is read
 * as the server's configuration reads it: PostgreSQL when DATABASE_URL is set and not empty.
 */
export function launchSettings(context: LaunchContext): { flags: string[]; env: Record<string, string> } {
  const { env, platform, execArgv, v8Version } = context;
  const given = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)];
  const wanted = (flags: readonly string[]) => flags.filter((flag) => !isGiven(flag, given));
  if (env.DATABASE_URL) return { flags: wanted([...postgresNodeFlags(v8Version), ...COMMON_NODE_FLAGS]), env: {} };
  if (env.MALLOC_ARENA_MAX !== undefined) return { flags: wanted(COMMON_NODE_FLAGS), env: {} };
  return {
    flags: wanted([...embeddedNodeFlags(v8Version), ...COMMON_NODE_FLAGS]),
    env: platform === 'linux' ? { ...EMBEDDED_ENVIRONMENT } : {},
  };
}
