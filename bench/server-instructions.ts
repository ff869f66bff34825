/**
 * `npm run bench:instructions`: the instructions a built server executes per intake, counted by valgrind's
 * callgrind over the whole process (HTTP, the app, the pg driver) on PostgreSQL. An instruction count does not
 * move with the host's load, where CPU time per request does by more than the changes it is asked to judge.
 *
 *   npm run build && npm run bench:instructions -- [--server=dist/server.mjs] [--warmup=6000] [--settle=500]
 *     [--max-warmup=20000] [--requests=500] [--idle=30]
 *
 * `--server` may be the dist/server.mjs of another checkout (built there, with its node_modules). The server
 * runs with `--single-threaded` (no concurrent GC or compiler threads) and fixed V8 seeds; the intakes go one at
 * a time on one kept-alive connection, each with its own patient and idempotency key, and counting starts
 * (callgrind_control) after the warm-up. The warm-up lasts until V8 has settled: at least `--warmup` intakes,
 * then until `--settle` intakes in a row saw no TurboFan compile and no deoptimization (V8's --trace-opt and
 * --trace-deopt lines), at most `--max-warmup`. A count taken earlier measures which functions V8 happens to
 * have optimized by then, which moves from run to run (docs/performance.md). It prints the work per intake,
 * the steadier part, and beside it what V8's optimizing compiler and garbage collector took in the same
 * window: those come in lumps (a function reaching its threshold, a full collection) and move from run to run.
 * Background jobs run by the clock, which valgrind slows by the host's load, so their work is counted over
 * `--idle` seconds with no requests and taken off at that rate. With KEEP_CALLGRIND=1 the profiles are kept and the server writes V8's
 * perf map, which names the JIT code callgrind shows as bare addresses. Needs valgrind; about four minutes
 * per server.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { projectRoot } from '../src/paths.ts';
import { bootstrapOrganizationId } from './lib/measure.ts';
import { createBenchDatabase } from './lib/postgres.ts';
import { benchServerEnvironment } from './lib/processes.ts';
import { scenarios } from './scenarios.ts';
import { UNIQUE } from './lib/bodies.ts';

const { values: args } = parseArgs({
  options: {
    server: { type: 'string', default: 'dist/server.mjs' },
    warmup: { type: 'string', default: '6000' },
    settle: { type: 'string', default: '500' },
    'max-warmup': { type: 'string', default: '20000' },
    requests: { type: 'string', default: '500' },
    idle: { type: 'string', default: '30' },
    'pg-url': { type: 'string' },
  },
  strict: true,
});
const adminUrl = args['pg-url'] ?? process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const serverScript = path.resolve(projectRoot, args.server);
const warmup = Number(args.warmup);
const settle = Number(args.settle);
const maxWarmup = Number(args['max-warmup']);
const requests = Number(args.requests);
const idleSeconds = Number(args.idle);

const adminToken = 'a'.repeat(32);
const apiKey = `c360_bench_${'b'.repeat(32)}`;
const phiKey = 'c'.repeat(64);
const port = 20_000 + (process.pid % 20_000);
const url = `http://127.0.0.1:${port}`;
const outFile = path.join(tmpdir(), `care360-callgrind-${process.pid}.out`);

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function post(requestPath: string, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${url}${requestPath}`,
      { method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json' } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

async function waitForHealth(deadline: number, exited: () => boolean): Promise<void> {
  for (;;) {
    if (exited()) throw new Error('the server exited before listening');
    if (Date.now() > deadline) throw new Error('the server did not answer /health in time');
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** V8's optimizing compiler (TurboFan), by the namespaces of its functions. */
const COMPILER = /v8::internal::compiler::|Zone|TranslationArrayBuilder|PipelineCompilationJob|v8::internal::maglev/;
/** V8's garbage collector: marking, scavenging, sweeping, evacuation and the heap's own bookkeeping. */
const GC =
  /Marking|MarkCompact|Scaveng|Sweep|Evacuat|RememberedSet|RecordMigrated|BodyDescriptor|HeapObject::SizeFromMap|ActiveSystemPages|IterateObjectCache|Heap::|FreeList|popcount|SlotSet|TypedSlot|GlobalHandles|EphemeronTable|WeakObjects|MemoryAllocator|PagedSpace|MemoryChunk|PretenuringHandler|Page::|LargeObjectSpace|RootVisitor|ExternalStringTable|IterateRoots/;

/**
 * A dump's instructions by function (callgrind_annotate, exclusive costs), split into the compiler, the
 * collector and the rest. The first two come in lumps (a function reaching its optimization threshold, a full
 * collection) whose timing moves from run to run; the rest, the work itself, is what repeats.
 */
async function splitInstructions(dump: string) {
  const { stdout } = await promisify(execFile)('callgrind_annotate', ['--threshold=100', dump], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const parts = { total: 0, work: 0, compiler: 0, gc: 0 };
  for (const line of stdout.split('\n')) {
    const match = /^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*)$/.exec(line);
    if (!match) continue;
    const count = Number(match[1]!.replaceAll(',', ''));
    const name = match[2]!;
    if (name.includes('PROGRAM TOTALS')) parts.total = count;
    else if (!name.includes(':')) continue;
    else if (COMPILER.test(name)) parts.compiler += count;
    else if (GC.test(name)) parts.gc += count;
    else parts.work += count;
  }
  return parts;
}

const database = await createBenchDatabase(adminUrl, `care360_instructions_${process.pid}`);
const child = spawn(
  'valgrind',
  [
    '--tool=callgrind',
    '--smc-check=all-non-file',
    '--instr-atstart=no',
    `--callgrind-out-file=${outFile}`,
    process.execPath,
    '--single-threaded',
    '--heap-growing-percent=20',
    '--hash-seed=1',
    '--random-seed=1',
    '--trace-opt',
    '--trace-deopt',
    // Kept profiles name their JIT code from V8's perf map (/tmp/perf-<pid>.map); not in a plain run, as writing
    // the map is work of its own. The map comes with V8's log, kept out of the checkout.
    ...(process.env.KEEP_CALLGRIND
      ? ['--perf-basic-prof', `--logfile=${outFile}.v8.log`, '--no-logfile-per-isolate']
      : []),
    serverScript,
  ],
  {
    cwd: path.dirname(path.dirname(serverScript)),
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...benchServerEnvironment,
      ADMIN_TOKEN: adminToken,
      BOOTSTRAP_API_KEY: apiKey,
      PHI_ENCRYPTION_KEY: phiKey,
      DATABASE_URL: database.url,
      HOST: '127.0.0.1',
      PORT: String(port),
    },
    // V8's traces go to stdout; the server logs there too, at warn only.
    stdio: ['ignore', 'pipe', 'pipe'],
  },
);
let stderr = '';
/** TurboFan's finished compiles and V8's deoptimizations so far, from --trace-opt and --trace-deopt. */
const jit = { compiles: 0, deopts: 0 };
let partialLine = '';
child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
child.stdout.on('data', (chunk: Buffer) => {
  const text = chunk.toString();
  const lines = (partialLine + text).split('\n');
  partialLine = lines.pop()!;
  for (const line of lines) {
    if (line.startsWith('[completed compiling')) jit.compiles++;
    else if (line.startsWith('[bailout')) jit.deopts++;
  }
});
let exited = false;
child.once('exit', () => (exited = true));

try {
  await waitForHealth(Date.now() + 600_000, () => exited);
  const organizationId = await bootstrapOrganizationId(url, adminToken);
  const intake = scenarios.find((scenario) => scenario.id === 'intake-title')!;
  const spec = await intake.setup({ url, apiKey, adminToken, organizationId });
  const parts = spec.body!.split(UNIQUE);
  const send = async (label: string) => {
    const status = await post(spec.path, spec.headers, parts.join(label));
    if (status !== 200) throw new Error(`intake ${label}: ${status}`);
  };
  let sent = 0;
  let quietSince = 0;
  let lastEvents = 0;
  const events = () => jit.compiles + jit.deopts;
  const warmupStarted = performance.now();
  while (sent < maxWarmup) {
    await send(`w${String(sent).padStart(6, '0')}`);
    sent++;
    if (events() !== lastEvents) {
      lastEvents = events();
      quietSince = sent;
    }
    if (sent % 500 === 0)
      console.log(
        `warm-up ${sent}: ${jit.compiles} TurboFan compiles, ${jit.deopts} deopts ` +
          `(${((performance.now() - warmupStarted) / 1000).toFixed(0)} s)`,
      );
    if (sent >= warmup && sent - quietSince >= settle) break;
  }
  const before = { ...jit };
  const control = async (option: string) => {
    // vgdb names its pipes after the HOST variable, which the server's environment sets.
    const environment = { ...process.env, HOST: '127.0.0.1' };
    const { stdout } = await promisify(execFile)('callgrind_control', [option, String(child.pid)], {
      env: environment,
    });
    if (process.env.KEEP_CALLGRIND) console.log(stdout);
  };
  await control('--instr=on');
  const started = performance.now();
  for (let index = 0; index < requests; index++) await send(`m${String(index).padStart(6, '0')}`);
  const loadSeconds = (performance.now() - started) / 1000;
  // A dump, not --instr=off, which discards what was counted; it goes to <out file>.1 and zeroes the counts.
  await control('--dump');
  const counted = { compiles: jit.compiles - before.compiles, deopts: jit.deopts - before.deopts };
  // The background jobs' timers (the webhook claim every 250 ms, ...) run by the clock, which valgrind slows by
  // the host's load: their share is measured with no requests for a while and taken off at its rate.
  await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
  await control('--dump');
  child.kill('SIGTERM');
  if (!exited) await once(child, 'exit');
  const loaded = await splitInstructions(`${outFile}.1`);
  const idle = await splitInstructions(`${outFile}.2`);
  // The compiler's and the collector's lumps do not come at a rate: only the work is taken off by the clock.
  const work = loaded.work - (idle.work * loadSeconds) / idleSeconds;
  const each = (count: number) => Math.round(count / requests).toLocaleString('en-US');
  console.log(
    `${args.server}: ${each(work)} instructions of work per intake; besides, ${each(loaded.compiler)} in V8's ` +
      `optimizing compiler and ${each(loaded.gc)} in its garbage collector`,
  );
  console.log(
    `(idle: ${Math.round(idle.work / idleSeconds).toLocaleString('en-US')} work instructions/s over ${idleSeconds} s, ` +
      `taken off for the ${loadSeconds.toFixed(0)} s of load)`,
  );
  if (process.env.KEEP_CALLGRIND)
    console.log(`profiles: ${outFile}.1 (load), ${outFile}.2 (idle); JIT code: /tmp/perf-${child.pid}.map`);
  console.log(
    `(${sent} warm-up intakes, the last ${sent - quietSince} with no TurboFan compile or deopt; ${requests} counted, ` +
      `one at a time, PostgreSQL, during which ${counted.compiles} compiles and ${counted.deopts} deopts)`,
  );
} catch (error) {
  console.error(stderr);
  throw error;
} finally {
  if (!exited) child.kill('SIGKILL');
  agent.destroy();
  await database.drop();
  if (!process.env.KEEP_CALLGRIND)
    for (const file of [outFile, `${outFile}.1`, `${outFile}.2`]) await rm(file, { force: true });
  await rm(`${outFile}.v8.log`, { force: true });
}
