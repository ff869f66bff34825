import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { launchedServerPid } from '../../bench/lib/processes.ts';
import { buildServer, launcher } from '../../scripts/build.ts';
import { cliBundle } from './cli-bundle.ts';
import { CHILD_NODE_FLAGS } from './process-flags.ts';

export interface RunningServer {
  url: string;
  /** The launcher (bin/care360.mjs): it forwards signals to the server and exits with the server's code. */
  process: ChildProcess;
  /** The server's own pid (the launcher's child). */
  pid: number;
  /** Everything the process printed so far, stdout and stderr. */
  output(): string;
  /** SIGTERM (or the signal given) to the server through the launcher, then the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

let bundle: Promise<string> | undefined;

/** How long a server may take to listen before its start is taken as hung. */
const START_LIMIT_MS = 300_000;

/**
 * The server as `npm start` runs it: the source bundled to dist/server.mjs (scripts/build.ts), started by
 * the launcher with plain node. Built once per test file.
 */
async function serverCommand(nodeFlags: readonly string[]): Promise<string[]> {
  bundle ??= buildServer();
  await bundle;
  return [...nodeFlags, launcher];
}

export interface StartOptions {
  /** Node flags given to the launcher, which passes them on to the server (default: CHILD_NODE_FLAGS). */
  nodeFlags?: readonly string[];
}

/** Starts the server as `npm start` does, on a free port, and waits until it listens. */
export async function startServer(
  environment: Record<string, string>,
  { nodeFlags = CHILD_NODE_FLAGS }: StartOptions = {},
): Promise<RunningServer> {
  const child = spawn(process.execPath, await serverCommand(nodeFlags), {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));

  const url = await new Promise<string>((resolve, reject) => {
    // Waits for the server's own word (listening, or its exit): on a loaded machine a start takes minutes, so the
    // limit only ends a start that hangs, and ends it with its process: a server left starting would take the data
    // folder and the port of what the test does next.
    const timer = setTimeout(() => {
      try {
        process.kill(launchedServerPid(child.pid!), 'SIGKILL');
      } catch {
        // not started yet: the launcher alone
      }
      child.kill('SIGKILL');
      reject(new Error(`server did not start in ${START_LIMIT_MS / 1000} s:\n${output}`));
    }, START_LIMIT_MS);
    const check = () => {
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${output}`));
    });
  });

  const pid = launchedServerPid(child.pid!);
  return {
    url,
    process: child,
    pid,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      // A SIGKILL (a crash) cannot be forwarded: it goes to the server itself, and the launcher follows it.
      if (signal === 'SIGKILL') process.kill(pid, signal);
      else child.kill(signal);
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

/**
 * Runs the server expecting it to refuse to start; returns its exit code, its output, and its stderr alone. A
 * server that starts after all is killed (the launcher then exits with 137), so a test of a refusal fails instead of
 * waiting forever.
 */
export async function failedStart(
  environment: Record<string, string>,
): Promise<{ code: number | null; output: string; errors: string }> {
  const child = spawn(process.execPath, await serverCommand(CHILD_NODE_FLAGS), {
    env: { PATH: process.env.PATH ?? '', ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let errors = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
    if (/Server listening at/.test(output)) process.kill(launchedServerPid(child.pid!), 'SIGKILL');
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
    errors += chunk;
  });
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, output, errors };
}

/**
 * Runs `npm run cli -- <args>` as an operator would, with only `environment` and PATH, and `input` (if given) on
 * its standard input; returns its exit code, stdout and stderr. The CLI's code is the bundle of
 * test/support/cli-bundle.ts (a process under tsx spends most of its CPU loading src/ again), run with the tests'
 * CHILD_NODE_FLAGS.
 */
export async function runCli(
  args: string[],
  environment: Record<string, string>,
  input?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...CHILD_NODE_FLAGS, await cliBundle(), ...args], {
    env: { PATH: process.env.PATH ?? '', ...environment },
    stdio: 'pipe',
  });
  child.stdin.end(input);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code] = (await once(child, 'close')) as [number | null]; // 'close': its output is read to the end
  return { code, stdout, stderr };
}
