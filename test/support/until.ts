import { setTimeout as sleep } from 'node:timers/promises';

/** Polls until `holds` answers true, for at most `timeoutMs`; fails naming what was awaited (or the condition). */
export async function until(
  holds: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  awaited = holds.toString(),
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await holds())) {
    if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms: ${awaited}`);
    await sleep(5);
  }
}
