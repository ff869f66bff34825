import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, it, type TestContext } from 'node:test';
import { BackgroundLoop } from '../../src/background-loop.ts';

// The loop's waits run on mocked timers that never fire unless the test ticks them: a pass that starts without a
// tick started without waiting the interval.

const INTERVAL_MS = 250;

/** A loop whose passes each wait for the test to end them; `passes` counts the passes begun. */
function heldLoop(t: TestContext) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const ends: (() => void)[] = [];
  const state = { passes: 0 };
  const loop = new BackgroundLoop(
    () => {
      state.passes += 1;
      return new Promise<void>((resolve) => ends.push(resolve));
    },
    { intervalMs: INTERVAL_MS, failureMessage: 'pass failed' },
  );
  const endPass = async () => {
    ends.shift()!();
    // Let the loop go as far as it goes without a timer: to the next pass, or into its wait.
    for (let index = 0; index < 5; index += 1) await turn();
  };
  const stop = async () => {
    const stopped = loop.stop();
    while (ends.length > 0) ends.shift()!();
    await stopped;
  };
  return { loop, state, endPass, stop };
}

describe('BackgroundLoop', () => {
  it('waits the interval after a pass when nothing woke it', async (t) => {
    const { loop, state, endPass, stop } = heldLoop(t);
    loop.start();
    assert.equal(state.passes, 1);
    await endPass();
    assert.equal(state.passes, 1, 'the next pass waits for the interval');
    t.mock.timers.tick(INTERVAL_MS);
    await turn();
    assert.equal(state.passes, 2);
    await stop();
  });

  it('ends the wait under way on a wake', async (t) => {
    const { loop, state, endPass, stop } = heldLoop(t);
    loop.start();
    await endPass();
    assert.equal(state.passes, 1);
    loop.wake();
    await turn();
    assert.equal(state.passes, 2);
    await stop();
  });

  it('starts the next pass at once when woken during a pass', async (t) => {
    const { loop, state, endPass, stop } = heldLoop(t);
    loop.start();
    assert.equal(state.passes, 1);
    loop.wake();
    await endPass();
    assert.equal(state.passes, 2, 'the wake during the pass is not lost');
    // The wake is spent: the pass after it waits as usual.
    await endPass();
    assert.equal(state.passes, 2);
    await stop();
  });
});
