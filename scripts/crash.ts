// npm run test:crash [-- --kills 10 --clients 8 --min-ms 1500 --max-ms 5000 --database <url>|pglite --no-nmi --no-webhooks --no-decisions]
// npm run test:crash -- --terminate-backends 20 [--kills 0 ...]
// Crash consistency (test/crash/crash-run.ts): SIGKILLs a real server under intake and payment traffic,
// restarts it, and checks the invariants (with a webhook endpoint at a recording receiver unless --no-webhooks); with --terminate-backends N, also terminates every database backend
// of the server N times at random moments (the server must keep running). PostgreSQL by default
// (TEST_DATABASE_URL, or the local server). --kills defaults to 8, or to 0 with --terminate-backends.
import { parseArgs } from 'node:util';
import { formatReport, runCrashConsistency } from '../test/crash/crash-run.ts';

const { values } = parseArgs({
  options: {
    kills: { type: 'string' },
    'terminate-backends': { type: 'string', default: '0' },
    clients: { type: 'string', default: '6' },
    'min-ms': { type: 'string', default: '1500' },
    'max-ms': { type: 'string', default: '5000' },
    database: { type: 'string' },
    'no-nmi': { type: 'boolean', default: false },
    'no-webhooks': { type: 'boolean', default: false },
    'no-decisions': { type: 'boolean', default: false },
  },
});
const database = values.database ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const terminations = Number(values['terminate-backends']);
const kills = Number(values.kills ?? (terminations > 0 ? 0 : 8));
if (terminations > 0 && database === 'pglite') throw new Error('--terminate-backends needs PostgreSQL');
const started = Date.now();
console.log(
  `crash consistency: ${kills} SIGKILLs, ${terminations} backend terminations, ${values.clients} clients, on ${database === 'pglite' ? 'PGlite' : 'PostgreSQL'}`,
);
const report = await runCrashConsistency({
  kills,
  terminations,
  clients: Number(values.clients),
  trafficMs: [Number(values['min-ms']), Number(values['max-ms'])],
  nmiCharges: !values['no-nmi'],
  webhooks: !values['no-webhooks'],
  decisions: !values['no-decisions'],
  ...(database === 'pglite' ? {} : { databaseUrl: database }),
  log: (line) => console.log(line),
});
console.log(formatReport(report));
console.log(`time: ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (report.violations.length > 0) process.exitCode = 1;
