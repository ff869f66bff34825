import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { launcher } from '../../scripts/build.ts';
import { projectRoot } from '../../src/paths.ts';

export interface RunningProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  output(): string;
  stop(): Promise<number | null>;
}

/**
 * The environment every bench server runs with. Limits are generous, not off: the limiter's own cost is part of
 * every request.
 */
export const benchServerEnvironment = {
  LOG_LEVEL: 'warn',
  RATE_LIMIT_PER_KEY: '1000000000',
  RATE_LIMIT_PER_ADDRESS: '1000000000',
  AUTH_FAILURE_LIMIT: '1000000',
};

/** A free TCP port on 127.0.0.1 (asks the kernel, then releases it for the child). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The pid of the server a launcher (bin/care360.mjs) started: its one child, from /proc (Linux, as the rest
 * of the harness's process readings).
 */
export function launchedServerPid(launcherPid: number): number {
  const children = readFileSync(`/proc/${launcherPid}/task/${launcherPid}/children`, 'utf8').trim().split(/\s+/);
  const pid = Number(children[0]);
  if (children.length !== 1 || !Number.isInteger(pid) || pid <= 0) {
    throw new Error(`launcher ${launcherPid} has no single server process (children: ${children.join(' ')})`);
  }
  return pid;
}

/**
 * Starts an entry point on a free port and waits until `readyPath` answers 200 (at LOG_LEVEL=warn nothing
 * announces the listening socket): TypeScript with `node --import tsx <script>`, compiled JavaScript
 * (`.mjs`, `.js`) with plain node, `args` after the script. `pid` is the process whose /proc status we read:
 * the child itself, or for the launcher the server it started (the launcher only waits for it).
 */
export async function startListeningProcess(
  script: string,
  environment: Record<string, string>,
  options: { nodeArguments?: readonly string[]; args?: readonly string[]; readyPath?: string; node?: string } = {},
): Promise<RunningProcess> {
  const port = await freePort();
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const argv = [...(options.nodeArguments ?? []), ...loader, script, ...(options.args ?? [])];
  const child = spawn(options.node ?? process.execPath, argv, {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...environment,
      HOST: '127.0.0.1',
      PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString();
    // Bounded: a chatty server must not grow the harness without end.
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exited = false;
  child.once('exit', () => (exited = true));
  const launched = path.resolve(projectRoot, script) === launcher;
  // A SIGKILL cannot be forwarded: the launcher's server gets its own.
  const kill = () => {
    if (launched) {
      try {
        process.kill(launchedServerPid(child.pid!), 'SIGKILL');
      } catch {
        // not started, or gone already
      }
    }
    child.kill('SIGKILL');
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`${script} exited with ${child.exitCode} before listening:\n${output}`);
    if (Date.now() > deadline) {
      kill();
      throw new Error(`${script} did not answer ${options.readyPath ?? '/health'} in 60 s:\n${output}`);
    }
    try {
      const response = await fetch(`${url}${options.readyPath ?? '/health'}`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url,
    pid: launched ? launchedServerPid(child.pid!) : child.pid!,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exit = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(kill, 15_000);
      const [code] = (await exit) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
}

/** Runs `node --import tsx <script> <args>` to completion; its stdout's last `RESULT {...}` line, parsed. */
export async function runJsonChild<T>(
  script: string,
  args: readonly string[],
  options: { timeoutMs: number; environment?: Record<string, string>; onStderr?: (text: string) => void },
): Promise<T> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: projectRoot,
    env: { ...process.env, ...options.environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.length > 1_000_000) stdout = stdout.slice(-500_000);
  });
  child.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stderr += text;
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
    options.onStderr?.(text);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  const line = stdout
    .split('\n')
    .reverse()
    .find((candidate) => candidate.startsWith('RESULT '));
  if (code !== 0 || !line) {
    throw new Error(`${script} ${args.join(' ')} failed (exit ${code}):\n${stderr.slice(-4000)}${stdout.slice(-2000)}`);
  }
  return JSON.parse(line.slice('RESULT '.length)) as T;
}

/** Prints a child's result for runJsonChild. */
export function printResult(value: unknown): void {
  process.stdout.write(`RESULT ${JSON.stringify(value)}\n`);
}

export interface MemorySample {
  rssMb: number;
  hwmMb: number;
}

/** VmRSS and VmHWM (peak RSS) of a process, from /proc/<pid>/status; undefined when it is gone. */
export function readMemory(pid: number): MemorySample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) / 1024;
    return { rssMb: field('VmRSS'), hwmMb: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
export function readCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the file)
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/**
 * Watches a process's memory and CPU during one measurement: resets its peak RSS first (writing 5 to
 * /proc/<pid>/clear_refs, Linux 4.0+), polls VmRSS, and reports the larger of the polled maximum and VmHWM.
 */
export function watchProcess(pid: number, intervalMs = 100) {
  let resetWorked = false;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    resetWorked = true;
  } catch {
    // Not permitted (another user's process) or an old kernel: the polled maximum still counts.
  }
  let maxRssMb = readMemory(pid)?.rssMb ?? 0;
  const cpuStart = readCpuSeconds(pid);
  const startedAt = process.hrtime.bigint();
  const timer = setInterval(() => {
    const sample = readMemory(pid);
    if (sample && sample.rssMb > maxRssMb) maxRssMb = sample.rssMb;
  }, intervalMs);
  timer.unref();
  return {
    stop(): { peakRssMb: number; peakRssSource: 'VmHWM' | 'polled VmRSS'; cpuPercent: number | undefined } {
      clearInterval(timer);
      const final = readMemory(pid);
      const cpuEnd = readCpuSeconds(pid);
      const elapsedSeconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
      const hwm = resetWorked && final ? final.hwmMb : 0;
      const polled = Math.max(maxRssMb, final?.rssMb ?? 0);
      return {
        peakRssMb: round(Math.max(hwm, polled), 1),
        peakRssSource: hwm >= polled ? 'VmHWM' : 'polled VmRSS',
        cpuPercent:
          cpuStart !== undefined && cpuEnd !== undefined && elapsedSeconds > 0
            ? round(((cpuEnd - cpuStart) / elapsedSeconds) * 100, 0)
            : undefined,
      };
    },
  };
}

export function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
