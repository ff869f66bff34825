import { setTimeout as sleep } from 'node:timers/promises';

/** Polls until `holds` answers true, for at most `timeoutMs`; fails naming the condition. */
export async function until(holds: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await holds())) {
    if (Date.now() > deadline) throw new Error(`not reached in ${timeoutMs} ms: ${holds.toString()}`);
    await sleep(5);
  }
}
