import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';

/**
 * The embedded database has one owner at a time: the process that opens PGlite in a data folder first holds
 * DATA_DIR/care360.lock until it closes the database; any other process (a second server, a CLI command) is
 * refused with DataDirInUseError, which says who holds it.
 *
 * A lock left by a process that died (SIGKILL, a crash, a power cut) does not block: it is stale when its
 * process is gone (checked by pid, and on Linux by the process's start time, so a reused pid is not taken for
 * the owner), or when its owner has not refreshed it for a minute (the owner touches it every 10 s; this also
 * covers an owner on another host, say a container sharing the volume, whose pid cannot be checked). A stale
 * lock is taken over. An owner that finds its lock taken (it stalled for over a minute) stops at once rather
 * than write beside the new owner.
 */
export const LOCK_FILE = 'care360.lock';
const HEARTBEAT_MS = 10_000;
export const STALE_AFTER_MS = 60_000;

/** Who holds a data folder, as written in its lock file. */
export interface LockHolder {
  pid: number;
  hostname: string;
  /** The process's start time in clock ticks since boot (Linux), to tell a reused pid from the owner. */
  startTime?: string;
  /** Identifies this holding of the lock. */
  token: string;
  /** The command line, shortened (`server.mjs`, `cli.ts org create ...`). */
  command: string;
  since: string;
  /** A server's address once it listens: the CLI works through it (its admin API). */
  url?: string;
}

export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    super(
      `DATA_DIR ${dataDir} is in use by another care360 process (${describeHolder(holder)}): the embedded ` +
        'database has one owner at a time. Stop that process first, or give this one another DATA_DIR.',
    );
  }
}

export function describeHolder(holder: LockHolder): string {
  const where = holder.hostname === hostname() ? `pid ${holder.pid}` : `pid ${holder.pid} on ${holder.hostname}`;
  return `${where}, ${holder.command}, since ${holder.since}${holder.url ? `, listening at ${holder.url}` : ''}`;
}

/** Locks held by this process, by lock file: opening one data folder twice in a process is refused too. */
const heldHere = new Map<string, LockHolder>();

export class DataDirLock {
  private heartbeat: NodeJS.Timeout | undefined;

  private constructor(
    readonly file: string,
    private holder: LockHolder,
    onLost: (message: string) => void,
  ) {
    this.heartbeat = setInterval(() => {
      void this.refresh().catch((error: unknown) => {
        this.stopHeartbeat();
        onLost(`lost the lock ${file} (${error instanceof Error ? error.message : String(error)})`);
      });
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /**
   * Takes the lock of `dataDir` (made if missing), or throws DataDirInUseError. `onLost` runs if the lock is
   * later found taken over; the process must then stop writing (the server exits).
   */
  static async acquire(dataDir: string, onLost: (message: string) => void): Promise<DataDirLock> {
    const directory = path.resolve(dataDir);
    const file = path.join(directory, LOCK_FILE);
    await mkdir(directory, { recursive: true });
    const ours = heldHere.get(file);
    if (ours) throw new DataDirInUseError(directory, ours);
    const holder: LockHolder = {
      pid: process.pid,
      hostname: hostname(),
      ...(procStat(process.pid) ? { startTime: procStat(process.pid)!.startTime } : {}),
      token: randomUUID(),
      command: process.argv
        .slice(1)
        .map((argument, index) => (index === 0 ? path.basename(argument) : argument))
        .join(' ')
        .slice(0, 200),
      since: new Date().toISOString(),
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      if (await createExclusively(file, holder)) {
        heldHere.set(file, holder);
        return new DataDirLock(file, holder, onLost);
      }
      const found = await readHolder(file);
      if (!found) continue; // removed meanwhile: try again
      if (!isStale(found)) throw new DataDirInUseError(directory, found.holder ?? unknownHolder(found));
      await takeOver(file, found);
    }
    throw new Error(`Could not take the lock ${file}: other processes keep taking it`);
  }

  /** Adds what others should know (a server's URL) to the lock file. */
  async describe(details: Pick<LockHolder, 'url'>): Promise<void> {
    this.holder = { ...this.holder, ...details };
    heldHere.set(this.file, this.holder);
    const temporary = `${this.file}.${this.holder.token}.tmp`;
    await writeFile(temporary, JSON.stringify(this.holder), { mode: 0o644 });
    await rename(temporary, this.file);
  }

  async release(): Promise<void> {
    this.stopHeartbeat();
    heldHere.delete(this.file);
    const found = await readHolder(this.file);
    if (found?.holder?.token === this.holder.token) await unlink(this.file).catch(() => undefined);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** Touches the lock, after checking it is still ours. */
  private async refresh(): Promise<void> {
    const found = await readHolder(this.file);
    // Deleted by hand: made again, unless another process has made it meanwhile.
    if (!found && (await createExclusively(this.file, this.holder))) return;
    if (found?.holder?.token !== this.holder.token) {
      throw new Error(found?.holder ? `now held by ${describeHolder(found.holder)}` : 'another process is making it');
    }
    const now = new Date();
    await utimes(this.file, now, now);
  }
}

/** Creates the lock file with our holder, unless it exists. */
async function createExclusively(file: string, holder: LockHolder): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, 'wx', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(JSON.stringify(holder));
  } finally {
    await handle.close();
  }
  return true;
}

interface FoundLock {
  /** Undefined while its creator is still writing it, or if it is not ours to read. */
  holder: LockHolder | undefined;
  text: string;
  modifiedMs: number;
}

async function readHolder(file: string): Promise<FoundLock | undefined> {
  try {
    const [text, info] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    let holder: LockHolder | undefined;
    try {
      holder = JSON.parse(text) as LockHolder;
      if (typeof holder?.pid !== 'number' || typeof holder.token !== 'string') holder = undefined;
    } catch {
      holder = undefined;
    }
    return { holder, text, modifiedMs: info.mtimeMs };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

const unknownHolder = (found: FoundLock): LockHolder => ({
  pid: 0,
  hostname: 'unknown',
  token: '',
  command: 'a process that is writing its lock',
  since: new Date(found.modifiedMs).toISOString(),
});

function isStale(found: FoundLock): boolean {
  if (Date.now() - found.modifiedMs > STALE_AFTER_MS) return true;
  const holder = found.holder;
  if (!holder) return false; // just created: its content comes next
  if (holder.hostname !== hostname()) return false; // its pid means nothing here; the heartbeat decides
  if (holder.pid === process.pid) return true; // not ours (we hold no lock on it): a pid reused after a restart
  if (!processExists(holder.pid)) return true;
  // On Linux: a process that has exited (a zombie, not yet reaped by its parent) or that started at another
  // time (a reused pid) is not the owner.
  const proc = procStat(holder.pid);
  if (!proc) return false;
  return (
    proc.state === 'Z' || proc.state === 'X' || (holder.startTime !== undefined && proc.startTime !== holder.startTime)
  );
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** From /proc/<pid>/stat (Linux): the state (field 3) and the start time in clock ticks since boot (field 22). */
function procStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, startTime: fields[19]! };
  } catch {
    return undefined;
  }
}

/**
 * Removes a stale lock so that the next attempt can create one. Moved aside first, then checked: when two
 * processes find one stale lock, the second may have moved the first one's new lock instead, and puts it back.
 */
async function takeOver(file: string, stale: FoundLock): Promise<void> {
  const aside = `${file}.stale-${process.pid}-${randomUUID()}`;
  try {
    await rename(file, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readFile(aside, 'utf8').catch(() => '');
  if (moved !== stale.text) {
    // Not the lock found stale: put it back, unless yet another was made meanwhile (then its first owner finds
    // it gone at its next heartbeat and stops), and let the caller look again.
    const handle = await open(file, 'wx', 0o644).catch(() => undefined);
    if (handle) {
      await handle.writeFile(moved);
      await handle.close();
    }
  }
  await unlink(aside).catch(() => undefined);
}
