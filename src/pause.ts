/**
 * The wait between a background worker's passes: `until` waits up to its time, and `wake` ends the wait under
 * way at once (new work, or a stop). A wake with no wait under way does nothing.
 */
export class Pause {
  private end: (() => void) | undefined;

  until(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.finish(resolve), ms);
      this.end = () => {
        clearTimeout(timer);
        this.finish(resolve);
      };
    });
  }

  wake(): void {
    this.end?.();
  }

  private finish(resolve: () => void): void {
    this.end = undefined;
    resolve();
  }
}
