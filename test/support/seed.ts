import { createHash, randomInt } from 'node:crypto';
import fc from 'fast-check';

/**
 * Seeds of the randomised tests. A run has one seed: TEST_SEED when it is set (to replay a run), else a new one
 * (scripts/run-tests.mjs picks it once for every file and prints it). Each randomised test draws from its own
 * seed, derived from the run's seed and the test's name, so one TEST_SEED replays every randomised test of a run
 * whatever runs before it, and a failure says which TEST_SEED replays it.
 */
export const runSeed: number = parseSeed(process.env.TEST_SEED);

function parseSeed(text: string | undefined): number {
  if (text === undefined || text === '') return randomInt(2 ** 31);
  const seed = Number(text);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`TEST_SEED must be a whole number, not ${text}`);
  return seed;
}

/** The seed of one randomised test: the same for the same run seed and name. */
export function seedFor(name: string): number {
  return createHash('sha256').update(`${runSeed}:${name}`).digest().readUInt32BE(0) >>> 1;
}

/** How to replay a run, for a failure's message. */
export const replayHint = (): string => `replay with TEST_SEED=${runSeed}`;

/**
 * fc.assert with the test's seed. fast-check reports the failing case shrunk, with its own seed and path; the
 * message also says which TEST_SEED replays the run.
 */
export async function assertProperty<Ts>(
  name: string,
  property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  parameters: { numRuns: number },
): Promise<void> {
  try {
    await fc.assert(property, { ...parameters, seed: seedFor(name) });
  } catch (error) {
    if (error instanceof Error) error.message += `\n(${name}: ${replayHint()})`;
    throw error;
  }
}
