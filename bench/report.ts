/**
 * Writes docs/performance.md and docs/performance.svg from the latest full run (and the latest growth
 * run) in bench/results/. `npm run bench` calls it; `node --import tsx bench/report.ts` re-runs it alone.
 * The text between the notes markers in docs/performance.md is written by hand and kept.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { projectRoot as root } from '../src/paths.ts';
import type { BenchResults, EngineResult, Measurement } from './run.ts';

const resultsDirectory = path.join(root, 'bench', 'results');
const markdownPath = path.join(root, 'docs', 'performance.md');
const svgPath = path.join(root, 'docs', 'performance.svg');
const NOTES_START = '<!-- notes:start -->';
const NOTES_END = '<!-- notes:end -->';

function latest(kind: 'full' | 'growth'): { file: string; results: BenchResults } | undefined {
  if (!existsSync(resultsDirectory)) return undefined;
  const files = readdirSync(resultsDirectory)
    .filter((name) => name.endsWith('.json') && (kind === 'growth') === name.endsWith('-growth.json'))
    .sort();
  const file = files.at(-1);
  if (!file) return undefined;
  return { file, results: JSON.parse(readFileSync(path.join(resultsDirectory, file), 'utf8')) as BenchResults };
}

const fixed = (value: number | undefined, digits = 0) => (value === undefined ? '–' : value.toFixed(digits));
/** Milliseconds: autocannon's are whole numbers, the database ceiling's have decimals. */
const ms = (value: number | undefined) =>
  value === undefined
    ? '–'
    : Number.isInteger(value)
      ? String(value)
      : value < 10
        ? value.toFixed(2)
        : value.toFixed(1);
const percent = (ratio: number | undefined) =>
  ratio === undefined ? '–' : `${(ratio * 100).toFixed(ratio < 0.1 ? 1 : 0)}%`;
const engineName = (engine: string) => (engine === 'pglite' ? 'PGlite' : 'PostgreSQL');

function errorsOf(measurement: Measurement): string {
  const count = measurement.non2xx + measurement.errors;
  if (count === 0) return '0';
  const codes = Object.entries(measurement.statusCodes)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, n]) => `${n}×${code}`)
    .join(', ');
  return `${count}${codes ? ` (${codes})` : ''}${measurement.timeouts ? `, ${measurement.timeouts} timeouts` : ''}`;
}

export interface Ratios {
  engine: string;
  intake?: number;
  databaseCeiling?: number;
  frameworkCeiling?: number;
  ofDatabase?: number;
  ofFramework?: number;
  p99?: number;
  peakRssMb?: number;
}

export function ratiosOf(results: BenchResults): Ratios[] {
  const framework = results.frameworkCeiling.find((route) => route.id === 'empty')?.concurrency?.requestsPerSecond;
  return results.engines.map((engine) => {
    const intake = engine.scenarios.find((scenario) => scenario.id === 'intake-title')?.concurrency;
    const database = engine.databaseCeiling.available ? engine.databaseCeiling.requestsPerSecond : undefined;
    const rps = intake?.okPerSecond;
    return {
      engine: engine.engine,
      intake: rps,
      databaseCeiling: database,
      frameworkCeiling: framework,
      ofDatabase: rps !== undefined && database ? rps / database : undefined,
      ofFramework: rps !== undefined && framework ? rps / framework : undefined,
      p99: intake?.latencyMs.p99,
      peakRssMb: intake?.peakRssMb,
    };
  });
}

function scenarioRows(engines: EngineResult[], mode: 'concurrency' | 'rate'): string[] {
  const lines: string[] = [];
  const ids = [...new Set(engines.flatMap((engine) => engine.scenarios.map((scenario) => scenario.id)))];
  for (const id of ids) {
    for (const engine of engines) {
      const scenario = engine.scenarios.find((candidate) => candidate.id === id);
      if (!scenario) continue;
      const measurement = scenario[mode];
      const name = `${scenario.label}`;
      if (!measurement) {
        const cells = mode === 'concurrency' ? 8 : 7;
        lines.push(
          `| ${name} | ${engineName(engine.engine)} | ${scenario.status}${scenario.reason ? `: ${scenario.reason.replace(/\|/g, '/').slice(0, 120)}` : ''} |${' |'.repeat(cells - 1)}`,
        );
        continue;
      }
      if (mode === 'concurrency') {
        lines.push(
          `| ${name} | ${engineName(engine.engine)} | ${fixed(measurement.okPerSecond)} | ${fixed(measurement.medianSecondRequests)} | ${ms(measurement.latencyMs.p50)} | ${ms(measurement.latencyMs.p99)} | ${ms(measurement.latencyMs.p99_9)} | ${errorsOf(measurement)} | ${fixed(measurement.peakRssMb)} | ${fixed(measurement.serverCpuPercent)}% |`,
        );
      } else {
        lines.push(
          `| ${name} | ${engineName(engine.engine)} | ${fixed(measurement.targetRate)} | ${fixed(measurement.okPerSecond)} | ${ms(measurement.latencyMs.p50)} | ${ms(measurement.latencyMs.p99)} | ${ms(measurement.latencyMs.p99_9)} | ${errorsOf(measurement)} | ${fixed(measurement.peakRssMb)} |`,
        );
      }
    }
  }
  return lines;
}

function markdown(
  full: { file: string; results: BenchResults } | undefined,
  growth: { file: string; results: BenchResults } | undefined,
  notes: string,
): string {
  const out: string[] = [];
  out.push('# Performance', '');
  out.push(
    'How close care360 runs to the limits of the machine under it (issue 6). The tables below are generated by',
    '`bench/report.ts` from the JSON in `bench/results/`; only the notes section is written by hand.',
    'What is measured, and how, is described after the figures.',
    '',
  );
  if (!full) {
    out.push('No full benchmark run has been recorded yet: run `npm run bench`.', '');
  } else {
    const { results } = full;
    const machine = results.machine;
    out.push('## The run', '');
    out.push(
      `- Results: [\`bench/results/${full.file}\`](../bench/results/${full.file}), ${results.startedAt.slice(0, 16).replace('T', ' ')} UTC`,
    );
    out.push(
      `- Command: \`${results.command}\` (${results.options.durationSeconds} s measured after ${results.options.warmupSeconds} s warm-up per scenario, ${results.options.connections} connections)`,
    );
    out.push(
      `- Machine: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGb} GB memory, Linux ${machine.kernel}; shared with the load generator, and with other work on the machine (load average ${machine.loadAverageAtStart?.join(' / ') ?? '?'} at the start, ${machine.loadAverageAtEnd?.join(' / ') ?? '?'} at the end)`,
    );
    out.push(
      `- Code: commit ${machine.gitCommit?.slice(0, 7) ?? 'unknown'}${
        machine.uncommittedSourceFiles?.length
          ? `, plus uncommitted changes (work in progress of others) in ${machine.uncommittedSourceFiles.map((file) => `\`${file}\``).join(', ')}`
          : ''
      }`,
    );
    out.push(
      `- Node.js ${machine.node}; PostgreSQL ${machine.postgres ?? 'not reachable'} at 127.0.0.1:5432; PGlite (embedded) in a temporary DATA_DIR`,
    );
    out.push(
      `- Server environment: ${Object.entries(results.options.serverEnvironment)
        .map(([key, value]) => `\`${key}=${value}\``)
        .join(', ')}${'DATABASE_POOL_SIZE' in results.options.serverEnvironment ? '' : ', default pool size'}`,
    );
    out.push('');

    out.push('## care360 against its ceilings', '');
    out.push(
      'Intake by form title at the fixed concurrency, successful intakes per second, as a share of each ceiling measured in the same run.',
      '',
    );
    out.push(
      '| engine | intakes/s | database ceiling/s | share of database ceiling | framework ceiling/s (empty route) | share of framework ceiling | p99 ms | peak RSS MB |',
    );
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const ratio of ratiosOf(results)) {
      out.push(
        `| ${engineName(ratio.engine)} | ${fixed(ratio.intake)} | ${fixed(ratio.databaseCeiling)} | ${percent(ratio.ofDatabase)} | ${fixed(ratio.frameworkCeiling)} | ${percent(ratio.ofFramework)} | ${ms(ratio.p99)} | ${fixed(ratio.peakRssMb)} |`,
      );
    }
    out.push('');
    out.push('Targets of issue 6:', '');
    const ratios = ratiosOf(results);
    const postgres = ratios.find((ratio) => ratio.engine === 'postgres');
    const pglite = ratios.find((ratio) => ratio.engine === 'pglite');
    const mark = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? 'met' : 'not met');
    const peak = Math.max(0, ...ratios.map((ratio) => ratio.peakRssMb ?? 0));
    out.push(
      `- PostgreSQL intake ≥ 70% of the database ceiling: ${percent(postgres?.ofDatabase)}, ${mark(postgres?.ofDatabase === undefined ? undefined : postgres.ofDatabase >= 0.7)}`,
    );
    out.push(
      `- PostgreSQL intake p99 < 25 ms at ${results.options.connections} connections: ${ms(postgres?.p99)} ms, ${mark(postgres?.p99 === undefined ? undefined : postgres.p99 < 25)}`,
    );
    out.push(
      `- PGlite ≥ 400 intakes/s: ${fixed(pglite?.intake)}/s, ${mark(pglite?.intake === undefined ? undefined : pglite.intake >= 400)}`,
    );
    out.push(
      `- Peak RSS < 250 MB (intake by title, either engine): ${fixed(peak)} MB, ${mark(peak === 0 ? undefined : peak < 250)}; the highest of any scenario: ${fixed(Math.max(0, ...results.engines.flatMap((engine) => engine.scenarios.map((scenario) => scenario.concurrency?.peakRssMb ?? 0))))} MB`,
    );
    out.push('');

    out.push(`## Fixed concurrency (${results.options.connections} connections)`, '');
    out.push(
      'Throughput is successful responses over the run, with the median of the one-second samples beside it; server CPU is a percentage of one core.',
      '',
    );
    out.push(
      '| scenario | engine | ok req/s | median 1-s req/s | p50 ms | p99 ms | p99.9 ms | errors / non-2xx | server peak RSS MB | server CPU |',
    );
    out.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |');
    out.push(...scenarioRows(results.engines, 'concurrency'));
    out.push('');
    out.push('## Fixed request rate', '');
    out.push(
      `Latency at a fixed offered load (autocannon \`overallRate\`: a quota per connection and second, sent in a burst at the start of each second; see how it is measured): ${
        results.options.rateOverride
          ? `${results.options.rateOverride} requests/s for every scenario`
          : `${(results.options.rateFraction ?? 0.5) * 100}% of the throughput the same scenario reached at the fixed concurrency, a load the server can carry`
      }. An achieved rate below the target means the server was saturated.`,
      '',
    );
    out.push(
      '| scenario | engine | target req/s | ok req/s | p50 ms | p99 ms | p99.9 ms | errors / non-2xx | server peak RSS MB |',
    );
    out.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |');
    out.push(...scenarioRows(results.engines, 'rate'));
    out.push('');

    out.push('## Ceilings', '');
    out.push('| ceiling | req/s | p50 ms | p99 ms | p99.9 ms | errors | peak RSS MB |');
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const route of results.frameworkCeiling) {
      const m = route.concurrency;
      out.push(
        m
          ? `| Framework: ${route.label} | ${fixed(m.okPerSecond)} | ${ms(m.latencyMs.p50)} | ${ms(m.latencyMs.p99)} | ${ms(m.latencyMs.p99_9)} | ${m.non2xx + m.errors} | ${fixed(m.peakRssMb)} |`
          : `| Framework: ${route.label} | failed: ${route.error ?? ''} | | | | | |`,
      );
    }
    for (const engine of results.engines) {
      const ceiling = engine.databaseCeiling;
      out.push(
        ceiling.available
          ? `| Database (${engineName(engine.engine)}): the ${ceiling.statementsPerIntake} statements of one intake (${ceiling.inTransaction} in its transaction)${ceiling.runsPerSecond ? `; runs before and after the scenarios: ${ceiling.runsPerSecond.map((rate) => fixed(rate)).join(' and ')}/s` : ''} | ${fixed(ceiling.requestsPerSecond)} | ${ms(ceiling.latencyMs.p50)} | ${ms(ceiling.latencyMs.p99)} | ${ms(ceiling.latencyMs.p99_9)} | ${ceiling.errors} | – |`
          : `| Database (${engineName(engine.engine)}) | not available: ${ceiling.reason.slice(0, 160).replace(/\|/g, '/')} | | | | | |`,
      );
    }
    out.push('');
    const statements = results.engines.find((engine) => engine.databaseCeiling.available)?.databaseCeiling;
    if (statements?.available) {
      out.push('<details><summary>The statements of one intake by form title, as recorded and replayed</summary>', '');
      out.push(
        '```sql',
        ...statements.statements.map((text) => `${text}${text.length >= 100 ? ' …' : ''}`),
        '```',
        '',
        '</details>',
        '',
      );
      if (statements.unrecordedCalls) {
        out.push(
          `Warning: the intake also called ${statements.unrecordedCalls.join(', ')}; the replay does not include that work.`,
          '',
        );
      }
    }
  }

  out.push('## Growth', '');
  if (!growth?.results.growth) {
    out.push('No growth run recorded yet: `npm run bench -- --growth`.', '');
  } else {
    out.push(
      `From [\`bench/results/${growth.file}\`](../bench/results/${growth.file}) (\`${growth.results.command}\`): intake by form title on PostgreSQL, ${growth.results.options.connections} connections, before and after seeding cases with \`bench/seed-cases.ts\` (COPY).`,
      '',
    );
    out.push('| existing cases | ok req/s | p50 ms | p99 ms | p99.9 ms | errors / non-2xx | peak RSS MB | seeding |');
    out.push('| ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |');
    for (const step of growth.results.growth) {
      const m = step.measurement;
      out.push(
        m
          ? `| ${step.existingCases.toLocaleString('en-US')} | ${fixed(m.okPerSecond)} | ${ms(m.latencyMs.p50)} | ${ms(m.latencyMs.p99)} | ${ms(m.latencyMs.p99_9)} | ${errorsOf(m)} | ${fixed(m.peakRssMb)} | ${step.seed ? `${step.seed.cases.toLocaleString('en-US')} cases in ${step.seed.seconds.toFixed(0)} s` : ''} |`
          : `| ${step.existingCases.toLocaleString('en-US')} | ${step.status}: ${step.reason ?? ''} | | | | | | |`,
      );
    }
    out.push('');
  }

  out.push('## Chart', '', '![Throughput and p99 latency per scenario and engine](performance.svg)', '');
  out.push(...METHOD);
  out.push('## Notes', '', NOTES_START, notes.trim(), NOTES_END, '');
  return out.join('\n');
}

const METHOD = [
  '## How it is measured',
  '',
  '- `npm run bench` (`bench/run.ts`) starts care360 as `npm start` does (the bundle `scripts/build.ts` makes, `node dist/server.mjs`) on a free port, first on PGlite in a temporary `DATA_DIR` (with `MALLOC_ARENA_MAX=1` and `--max-semi-space-size=2`, on Node 24 also `--liftoff-only`, given as a Node 20 user gives them; on Node 22.15+ and 24 the server restarts itself with them), then on PostgreSQL at 127.0.0.1:5432 (on Node 24 with `--max-semi-space-size=16`, as the server restarts itself) in a database the run creates and drops, with the default pool of the server, 10 connections (`DATABASE_POOL_SIZE`; `--pool-size` sets it; before 2026-12-02 22:30 the bench gave it one per load connection, 16). The organization is the one `BOOTSTRAP_API_KEY` makes; promo codes are created through the admin API (`ADMIN_TOKEN`). Payments use the simulated gateway (no `STRIPE_SECRET_KEY`).',
  "- The load comes from autocannon in a separate process (`bench/load.ts`). Every intake carries a unique email and `idempotencyKey` (autocannon `setupRequest`), so each one creates a new patient and case; every payment carries a unique `idempotencyKey`. Each scenario gets a warm-up, then a run at a fixed concurrency and one at a fixed rate. Latencies are autocannon's (1 ms resolution), measured ones only: at a fixed rate autocannon would add made-up samples for coordinated omission with an expected interval of 1 ms (`ceil(1 / rate)`), which inflated the fixed-rate latencies of runs before 2026-12-02 23:00. Its fixed rate is a quota per connection and second: each connection sends its share at the start of each second as fast as answers come, then waits, so those runs are bursts at the concurrency's speed and pauses, not an even load.",
  '- Scenarios (`bench/scenarios.ts`): intake by form title (the six questions of `bench/lib/bodies.ts`, mixed types, one PHI; the form reused), by form id (the form made by one title intake, question ids read from `GET /api/v1/forms/:formId`), by form title with one 200 KB inline PDF (base64, about 270 KB on the wire); `POST /api/v1/cases/:caseId/payments` on one case, with and without `preauthorize` (that case created with a simulated `stripeSetupId`); `GET /api/v1/promo-codes?code=…`. A scenario whose endpoint is missing is reported as not available; the run goes on.',
  "- Peak RSS is the server process's VmHWM, reset before each measurement (`/proc/<pid>/clear_refs`), and polled VmRSS; server CPU is from `/proc/<pid>/stat`. On PostgreSQL the database's own memory is not included.",
  "- **Framework ceiling** (`bench/ceilings/framework.ts`): Fastify with an empty `GET` route, and a `POST` route that only parses the intake's JSON body, in their own process, under the same load generator.",
  "- **Database ceiling** (`bench/ceilings/database.ts`): the app is built in-process over a recording database (`bench/lib/sql-recorder.ts`), one real intake by form title is recorded (every statement, its parameters, its transaction), and that SQL is replayed straight from Node at the same concurrency: on PostgreSQL as many workers as the load has connections, sharing one `pg.Pool` with a connection per worker (faster for the replay than the server's pool of 10: median 2,896 against 2,492 intakes/s in alternated runs; runs before 2026-12-02 22:30 gave it the server's pool size, 16), on PGlite the in-process PGlite API. Values the intake made fresh (new UUIDs, the email, the idempotency key) are fresh in every replay. It follows the repositories' SQL as it changes: batching statements in the app lowers the ceiling's statement count too. Statements the server sends as named prepared statements (`prepared` in `src/db/database.ts`) are replayed the same way (named statements on PostgreSQL, the same one-call path on PGlite). The audit insert is replayed once per intake, as an intake on an idle server writes it; under load the server batches audit events, so its share of that insert per intake is smaller than the replay's. It runs twice per engine, before the server starts and after it stops, and the faster run is the ceiling: this host's speed drifts over minutes, and noise only slows a run down (runs before 2026-12-02 04:00 measured it once, after the scenarios).",
  '- **Growth** (`npm run bench -- --growth`): the intake by form title on PostgreSQL, then `bench/seed-cases.ts` adds 1,000,000 patients, cases (with idempotency keys) and form responses to the same organization with `COPY` (pg-copy-streams) and ANALYZE, then the intake again.',
  "- **Indexes**: `test/bench/explain.test.ts` (part of `npm test`) records every query the same requests send and plans it with `enable_seqscan = off` on a database with thousands of the organization's rows; SELECT/UPDATE/DELETE run under EXPLAIN ANALYZE in a rolled-back transaction, and no scan may read more than 100 rows.",
  '- Profiles: `npm run bench -- --profile` starts the server with `--cpu-prof` (into `bench/results/tmp/profiles`); `node --import tsx bench/profile-summary.ts <file>` sums self time by package and function.',
  "- **A/B** (`npm run bench:ab`, `bench/ab.ts`): two or more variants of the server (bundles, node flags, environment, or SQL run on the database, such as a schema change), each on a PostgreSQL database of its own, loaded in turn in ABBA order with one scenario, at the concurrency or at a fixed rate (`--rate`); it prints every run (rate, latencies, peak RSS, the server's CPU time per request) and the medians. A change is judged by those medians: on this host two full runs minutes apart differ by more than most changes do.",
  "- **The app's own CPU** (`npm run bench:cpu`, `bench/app-cpu.ts`): variants of the application (bundled from the working tree with `--build=name`) in one single-threaded Node process, each over a database stand-in that answers every statement as an in-memory PGlite answered it when recorded, sent intakes by form title through `app.inject` in alternated batches; the medians of CPU time per intake. No PostgreSQL, sockets or load generator: for a change to the code of the hot path, judged without this host's drift. The pg driver and the HTTP server are left out and `app.inject` adds a constant cost of its own, so its figures are not the server's CPU under load (`npm run bench:ab` prints that).",
  '- `npm run bench -- --quick` is the smoke pass for CI (2 s per run, both engines); its JSON goes to `bench/results/tmp/` and the docs are left alone. `node --import tsx bench/report.ts` regenerates this page from the latest results.',
  '',
];

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Two panels of horizontal bars: throughput and p99, one row per scenario, one bar per engine. */
function svg(results: BenchResults): string {
  const rows: { label: string; bars: { engine: string; rps?: number; p99?: number }[] }[] = [];
  const ids = [...new Set(results.engines.flatMap((engine) => engine.scenarios.map((scenario) => scenario.id)))];
  for (const id of ids) {
    const label = results.engines.flatMap((engine) => engine.scenarios).find((scenario) => scenario.id === id)!.label;
    rows.push({
      label,
      bars: results.engines.map((engine) => {
        const m = engine.scenarios.find((scenario) => scenario.id === id)?.concurrency;
        return { engine: engine.engine, rps: m?.okPerSecond, p99: m?.latencyMs.p99 };
      }),
    });
  }
  rows.push({
    label: 'Database ceiling (the SQL of one intake)',
    bars: results.engines.map((engine) => ({
      engine: engine.engine,
      rps: engine.databaseCeiling.available ? engine.databaseCeiling.requestsPerSecond : undefined,
      p99: engine.databaseCeiling.available ? engine.databaseCeiling.latencyMs.p99 : undefined,
    })),
  });
  for (const route of results.frameworkCeiling) {
    rows.push({
      label: `Framework ceiling: ${route.label}`,
      bars: [{ engine: 'none', rps: route.concurrency?.okPerSecond, p99: route.concurrency?.latencyMs.p99 }],
    });
  }

  const colors: Record<string, string> = { pglite: '#4e79a7', postgres: '#f28e2b', none: '#8c8c8c' };
  const labelWidth = 400;
  const panelWidth = 300;
  const gap = 40;
  const barHeight = 12;
  const rowHeight = 16 + Math.max(...rows.map((row) => row.bars.length)) * (barHeight + 2);
  const top = 70;
  const width = labelWidth + panelWidth * 2 + gap * 2 + 20;
  const height = top + rows.length * rowHeight + 40;
  const maxRps = Math.max(1, ...rows.flatMap((row) => row.bars.map((bar) => bar.rps ?? 0)));
  const maxP99 = Math.max(1, ...rows.flatMap((row) => row.bars.map((bar) => bar.p99 ?? 0)));
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">care360 under load: ${escapeXml(results.startedAt.slice(0, 10))}, ${results.options.connections} connections, ${results.machine.nproc} CPUs, Node ${escapeXml(results.machine.node)}</text>`,
    `<text x="${labelWidth}" y="50" font-weight="bold">successful requests per second (log scale)</text>`,
    `<text x="${labelWidth + panelWidth + gap}" y="50" font-weight="bold">p99 latency, ms (log scale)</text>`,
  );
  let legendX = 10;
  for (const [engine, color] of Object.entries(colors)) {
    parts.push(`<rect x="${legendX}" y="40" width="10" height="10" fill="${color}"/>`);
    const name = engine === 'none' ? 'no database' : engineName(engine);
    parts.push(`<text x="${legendX + 14}" y="49">${name}</text>`);
    legendX += 24 + name.length * 7;
  }
  // Log scales: the ceilings are orders of magnitude above some scenarios.
  const scale = (value: number, max: number) => (Math.log10(1 + value) / Math.log10(1 + max)) * (panelWidth - 60);
  rows.forEach((row, index) => {
    const y = top + index * rowHeight;
    if (index % 2 === 0) parts.push(`<rect x="0" y="${y - 2}" width="${width}" height="${rowHeight}" fill="#f4f4f4"/>`);
    parts.push(
      `<text x="10" y="${y + 12}">${escapeXml(row.label.length > 62 ? `${row.label.slice(0, 61)}…` : row.label)}</text>`,
    );
    row.bars.forEach((bar, barIndex) => {
      const barY = y + 2 + barIndex * (barHeight + 2);
      const color = colors[bar.engine] ?? '#999';
      for (const [value, max, x0, unit] of [
        [bar.rps, maxRps, labelWidth, '/s'],
        [bar.p99, maxP99, labelWidth + panelWidth + gap, ' ms'],
      ] as const) {
        if (value === undefined) {
          parts.push(`<text x="${x0}" y="${barY + 10}" fill="#999">n/a</text>`);
          continue;
        }
        const w = Math.max(1, scale(value, max));
        parts.push(`<rect x="${x0}" y="${barY}" width="${w.toFixed(1)}" height="${barHeight}" fill="${color}"/>`);
        parts.push(
          `<text x="${(x0 + w + 4).toFixed(1)}" y="${barY + 10}">${unit === '/s' ? value.toFixed(0) : ms(value)}${unit}</text>`,
        );
      }
    });
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export async function writeReport(): Promise<string[]> {
  const full = latest('full');
  const growth = latest('growth');
  let notes = 'No notes yet.';
  if (existsSync(markdownPath)) {
    const current = readFileSync(markdownPath, 'utf8');
    const start = current.indexOf(NOTES_START);
    const end = current.indexOf(NOTES_END);
    if (start >= 0 && end > start) notes = current.slice(start + NOTES_START.length, end);
  }
  // Formatted as `npm run format` would, so the generated page and the formatter never disagree.
  const options = (await prettier.resolveConfig(markdownPath)) ?? {};
  await writeFile(
    markdownPath,
    await prettier.format(markdown(full, growth, notes), { ...options, filepath: markdownPath }),
  );
  const written = [path.relative(root, markdownPath)];
  if (full) {
    await writeFile(svgPath, svg(full.results));
    written.push(path.relative(root, svgPath));
  }
  return written;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeReport()
    .then((written) => console.log(`wrote ${written.join(', ')}`))
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}
