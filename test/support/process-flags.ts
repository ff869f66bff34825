/**
 * Node flags of the processes the tests start (servers through the launcher, CLI commands): `--liftoff-only` when
 * this test process has it. `npm test` starts every test file with it (scripts/run-tests.mjs, where the choice is
 * made and explained), so the servers and CLIs it starts run the same way; a file run by hand without the flag
 * starts them without it.
 */
export const CHILD_NODE_FLAGS: readonly string[] = process.execArgv.filter((flag) => flag === '--liftoff-only');
