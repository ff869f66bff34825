/** Where a background job reports what went wrong (the server's logger, or none). */
export interface JobLog {
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface BackgroundLoopOptions {
  /** The wait after a pass that leaves nothing at hand. */
  intervalMs: number;
  /** What a failed pass logs; the next pass comes after the usual wait. */
  failureMessage: string;
}

/**
 * A background job's passes: runs `pass` again and again, waiting `intervalMs` between passes unless the pass
 * answers true (more is at hand) or `wake` ends the wait (new work, or the stop); a wake during a pass skips the
 * wait after it. `stop` ends the loop after the pass under way; the job's own work looks at `signal` to stop early.
 */
export class BackgroundLoop {
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  private endPause: (() => void) | undefined;
  /** A wake that came during a pass: the work it announces may have come after the pass looked. */
  private wokenDuringPass = false;
  private logger: JobLog | undefined;

  constructor(
    private readonly pass: () => Promise<boolean | void>,
    private readonly options: BackgroundLoopOptions,
  ) {}

  /** Aborted once the job is asked to stop. */
  get signal(): AbortSignal {
    return this.stopping.signal;
  }

  /** Where the job logs: the logger of the last start that gave one. */
  get log(): JobLog | undefined {
    return this.logger;
  }

  /** Starts the passes (with the server's logger, when the job was built before it); a second start does nothing. */
  start(log?: JobLog): void {
    this.logger = log ?? this.logger;
    this.running ??= this.run();
  }

  /** Ends the wait under way at once; during a pass, the next pass follows it without a wait. */
  wake(): void {
    if (this.endPause) this.endPause();
    else this.wokenDuringPass = true;
  }

  /** Stops after the pass under way (aborting `signal` with `reason`) and waits for it. */
  async stop(reason?: unknown): Promise<void> {
    this.stopping.abort(reason);
    this.wake();
    await this.running;
  }

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      let again = false;
      this.wokenDuringPass = false;
      try {
        again = (await this.pass()) === true;
      } catch (error) {
        this.logger?.warn({ err: error }, this.options.failureMessage);
      }
      if (!again && !this.wokenDuringPass && !this.stopping.signal.aborted) await this.pause(this.options.intervalMs);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.endPause = undefined;
        resolve();
      };
      const timer = setTimeout(end, ms);
      this.endPause = end;
    });
  }
}
