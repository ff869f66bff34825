/**
 * Node flags of the processes the tests start (servers through the launcher, CLI commands): the embedded
 * database's WebAssembly stays on V8's baseline compiler. Its optimizing compile costs each new process seconds of
 * CPU that a process living for a few requests never earns back; what the server and the CLI do is the same on
 * either tier, and the embedded server runs this way on Node 24 anyway (src/memory-settings.ts). `npm test` gives
 * the test files' own processes the same flag (scripts/run-tests.mjs).
 */
export const CHILD_NODE_FLAGS: readonly string[] = ['--liftoff-only'];
