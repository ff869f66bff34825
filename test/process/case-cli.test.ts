import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDatabase } from '../../src/db/database.ts';
import { freshDatabase } from '../support/database.ts';
import { runCli, startServer } from '../support/server-process.ts';

const databaseUrl = process.env.TEST_DATABASE_URL;

/** `case show` and `case list` as an operator runs them, on the engine of the run, after a server wrote a case. */
describe('npm run cli -- case show | case list', () => {
  let directory: string;
  before(async () => {
    directory = await mkdtemp(path.join(tmpdir(), 'care360-case-cli-'));
  });
  after(() => rm(directory, { recursive: true, force: true }));

  it(`prints a case by id and by short id, and a page of cases, audited, on ${databaseUrl ? 'PostgreSQL' : 'PGlite'}`, async () => {
    const database = databaseUrl ? await freshDatabase() : undefined;
    const environment: Record<string, string> = database
      ? { DATABASE_URL: database.url!, PHI_ENCRYPTION_KEY: randomBytes(32).toString('base64') }
      : { DATA_DIR: path.join(directory, 'data') };
    const server = await startServer({ ...environment, BOOTSTRAP_API_KEY: 'k' });
    let caseId: string;
    try {
      const response = await fetch(`${server.url}/api/v1/dynamic-case`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'cv-api-key': 'k' },
        body: JSON.stringify({
          firstName: 'Ada',
          lastName: 'Lovelace',
          email: 'ada@example.com',
          formTitle: 'Intake',
          questions: [
            { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' },
            { question: 'Diagnosis', type: 'TEXT', required: true, answer: 'secret diagnosis', phi: true },
          ],
        }),
      });
      assert.equal(response.status, 200, await response.clone().text());
      caseId = ((await response.json()) as { data: { caseId: string } }).data.caseId;
    } finally {
      await server.stop();
    }

    const shown = await runCli(['case', 'show', caseId], environment);
    assert.equal(shown.code, 0, shown.stderr);
    const byId = JSON.parse(shown.stdout) as { organizationId: string; case: { id: string; shortId: string } };
    assert.equal(byId.case.id, caseId);
    assert.ok(shown.stdout.includes('secret diagnosis'), 'PHI decrypted for the operator');
    const byShortId = await runCli(['case', 'show', byId.case.shortId.toLowerCase()], environment);
    assert.equal(byShortId.code, 0, byShortId.stderr);
    assert.equal((JSON.parse(byShortId.stdout) as { case: { id: string } }).case.id, caseId);

    const listed = await runCli(['case', 'list', byId.organizationId], environment);
    assert.equal(listed.code, 0, listed.stderr);
    const page = JSON.parse(listed.stdout) as { cases: { id: string }[]; pageInfo: { hasNextPage: boolean } };
    assert.deepEqual(
      page.cases.map((listedCase) => listedCase.id),
      [caseId],
    );
    assert.equal(page.pageInfo.hasNextPage, false);

    const unknown = await runCli(['case', 'show', 'ZZZ-ZZZZZ'], environment);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr.trim(), 'No case ZZZ-ZZZZZ');
    const badStatus = await runCli(['case', 'list', byId.organizationId, '--status', 'DONE'], environment);
    assert.equal(badStatus.code, 1);
    assert.match(badStatus.stderr, /^Invalid status 'DONE'/);

    // Each case shown is audited as a read by no API key.
    const db = database ? database.db : await openDatabase({ engine: 'pglite', dataDir: environment.DATA_DIR! });
    try {
      const { rows } = await db.query<{ n: number }>(
        `select count(*)::int as n from audit_events
          where action = 'case.read' and resource_id = $1 and api_key_id is null and request_id like 'cli %'`,
        [caseId],
      );
      assert.equal(rows[0]!.n, 3);
    } finally {
      if (database) await database.drop();
      else await db.close();
    }
  });
});
