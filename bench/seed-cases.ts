/**
 * Seeds N existing cases into a care360 PostgreSQL database with COPY (pg-copy-streams), for the growth
 * benchmark: N patients, N cases (each with an idempotency key, so that index grows too) and N form
 * responses (when the organization has a form), all in one organization, then ANALYZE.
 *
 *   npm run bench:seed -- --url=postgres://postgres@127.0.0.1:5432/<db> [--count=1000000] [--organization=<uuid>]
 *
 * The database must be migrated (start the server on it once). Prints one `RESULT {...}` line.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { printResult } from './lib/processes.ts';

export interface SeedResult {
  cases: number;
  totalCases: number;
  organizationId: string;
  formResponses: number;
  seconds: number;
}

const ROWS_PER_CHUNK = 2000;

/** Text-format COPY rows, in chunks; `row(i)` returns one tab-separated line without its newline. */
function rows(count: number, row: (index: number) => string): Readable {
  return Readable.from(
    (function* () {
      for (let start = 0; start < count; start += ROWS_PER_CHUNK) {
        const end = Math.min(count, start + ROWS_PER_CHUNK);
        let chunk = '';
        for (let index = start; index < end; index += 1) chunk += `${row(index)}\n`;
        yield chunk;
      }
    })(),
  );
}

async function copy(client: pg.Client, statement: string, source: Readable): Promise<void> {
  await pipeline(source, client.query(copyFrom(statement)));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { url: { type: 'string' }, count: { type: 'string' }, organization: { type: 'string' } },
    strict: true,
  });
  if (!values.url) throw new Error('--url=postgres://... is required');
  const count = Number(values.count ?? 1_000_000);
  if (!Number.isInteger(count) || count < 1) throw new Error('--count must be a positive integer');
  const started = performance.now();
  const client = new pg.Client({ connectionString: values.url });
  await client.connect();
  try {
    const organizationId =
      values.organization ??
      (await client.query<{ id: string }>('select id from organizations order by created_at limit 1')).rows[0]?.id;
    if (!organizationId) throw new Error('no organization: start the server on this database first');
    const formId = (
      await client.query<{ id: string }>(
        'select id from forms where organization_id = $1 order by created_at limit 1',
        [organizationId],
      )
    ).rows[0]?.id;

    const run = randomUUID().slice(0, 8);
    const patientIds: string[] = new Array<string>(count);
    const caseIds: string[] = new Array<string>(count);
    for (let index = 0; index < count; index += 1) {
      patientIds[index] = randomUUID();
      caseIds[index] = randomUUID();
    }
    // Spread over the last year, so time-ordered indexes see a realistic history.
    const now = Date.now();
    const createdAt = (index: number) =>
      new Date(now - 365 * 86_400_000 + (index / count) * 365 * 86_400_000).toISOString();

    await client.query('begin');
    await copy(
      client,
      'copy patients (id, organization_id, email, first_name, last_name, created_at, updated_at) from stdin',
      rows(count, (index) => {
        const at = createdAt(index);
        return `${patientIds[index]}\t${organizationId}\tseed-${run}-${index}@example.com\tSeed\tPatient ${index}\t${at}\t${at}`;
      }),
    );
    await copy(
      client,
      'copy cases (id, organization_id, patient_id, status, idempotency_key, created_at, updated_at) from stdin',
      rows(count, (index) => {
        const at = createdAt(index);
        return `${caseIds[index]}\t${organizationId}\t${patientIds[index]}\tOPEN\tseed-${run}-${index}\t${at}\t${at}`;
      }),
    );
    if (formId) {
      await copy(
        client,
        'copy form_responses (id, organization_id, case_id, form_id, patient_id, created_at) from stdin',
        rows(
          count,
          (index) =>
            `${randomUUID()}\t${organizationId}\t${caseIds[index]}\t${formId}\t${patientIds[index]}\t${createdAt(index)}`,
        ),
      );
    }
    await client.query('commit');
    await client.query('analyze patients');
    await client.query('analyze cases');
    await client.query('analyze form_responses');
    const total =
      (await client.query<{ count: number }>('select count(*)::int as count from cases')).rows[0]?.count ?? 0;
    printResult({
      cases: count,
      totalCases: total,
      organizationId,
      formResponses: formId ? count : 0,
      seconds: (performance.now() - started) / 1000,
    } satisfies SeedResult);
  } finally {
    await client.end();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});
