import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { POSTGRES_TEST_URL, schemaUrl } from '../support/database.ts';
import { startServer, type RunningServer } from '../support/server-process.ts';
import { Receiver, verifyCvSignature } from './support.ts';

const ADMIN_TOKEN = 'restart-admin-token';
const databaseUrl = process.env.TEST_DATABASE_URL;

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A server killed (SIGKILL) while it is sending deliveries to a receiver: after a restart every event whose change
 * committed arrives, duplicates allowed, each copy with its event's webhook-id, in order per case.
 */
describe(`webhook deliveries across a crash, on ${databaseUrl ? 'PostgreSQL' : 'PGlite'}`, () => {
  const schema = `care360_webhook_restart_${randomBytes(5).toString('hex')}`;
  let dataDir: string | undefined;
  let environment: Record<string, string>;
  let receiver: Receiver;
  let server: RunningServer | undefined;

  before(async () => {
    receiver = await new Receiver().start();
    if (databaseUrl) await withClient(POSTGRES_TEST_URL, (client) => client.query(`create schema ${schema}`));
    else dataDir = await mkdtemp(path.join(tmpdir(), 'care360-webhook-restart-'));
    environment = {
      ADMIN_TOKEN,
      PHI_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      RATE_LIMIT_PER_KEY: '0',
      RATE_LIMIT_PER_ADDRESS: '0',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      // A short time limit keeps the lease of a dead process's claims (and this test) short.
      WEBHOOK_TIMEOUT_SECONDS: '1',
      ...(databaseUrl ? { DATABASE_URL: schemaUrl(POSTGRES_TEST_URL, schema) } : { DATA_DIR: dataDir! }),
    };
  });
  after(async () => {
    await server?.stop('SIGKILL');
    await receiver.close();
    if (databaseUrl) await withClient(POSTGRES_TEST_URL, (client) => client.query(`drop schema ${schema} cascade`));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('delivers every committed event after a restart, with its webhook-id', { timeout: 180_000 }, async () => {
    // The receiver holds every request open: the server dies with deliveries in flight.
    let answering = false;
    // The cases whose delivery the receiver holds now, and those it answered.
    const held = new Set<string>();
    const answered = new Set<string>();
    const caseOf = (body: Buffer) =>
      (JSON.parse(body.toString('utf8')) as { payload: { case: { id: string } } }).payload.case.id;
    receiver.handler = (_request, response, received) => {
      const caseId = caseOf(received.body);
      if (answering) {
        answered.add(caseId);
        return void response.end('ok');
      }
      held.add(caseId);
      response.on('close', () => held.delete(caseId));
    };
    server = await startServer(environment);
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    const created = await fetch(`${server.url}/admin/v1/organizations`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ name: 'Restart' }),
    });
    const { apiKey, organizationId } = (await created.json()) as { apiKey: string; organizationId: string };
    const endpoint = await fetch(`${server.url}/admin/v1/organizations/${organizationId}/webhooks`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ url: receiver.url() }),
    });
    assert.equal(endpoint.status, 201);
    const { secret } = (await endpoint.json()) as { secret: string };

    const caseIds: string[] = [];
    for (let n = 0; n < 12; n++) {
      const response: Response = await fetch(`${server.url}/api/v1/dynamic-case`, {
        method: 'POST',
        headers: { 'cv-api-key': apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({
          firstName: 'Re',
          lastName: 'Start',
          email: `restart${n}@example.com`,
          formTitle: 'Restart form',
          questions: [{ question: 'Current weight', type: 'TEXT', required: true, answer: `${150 + n} lbs` }],
        }),
      });
      assert.equal(response.status, 200);
      caseIds.push(((await response.json()) as { data: { caseId: string } }).data.caseId);
    }
    // The server dies while a delivery is on the wire (held by the receiver, within its 1 s time limit).
    for (let wait = 0; held.size === 0 && wait < 1000; wait++) await new Promise((resolve) => setTimeout(resolve, 5));
    const cutShort = [...held];
    await server.stop('SIGKILL');
    assert.ok(cutShort.length > 0, 'a delivery was in flight');

    answering = true;
    server = await startServer(environment);
    // Every event is answered at last: the ones cut short once the dead process's lease has run out.
    for (let wait = 0; caseIds.some((id) => !answered.has(id)) && wait < 1200; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(
      caseIds.filter((id) => !answered.has(id)),
      [],
      'every committed CREATE_CASE arrives and is answered',
    );
    // Copies of one event (the ones cut short by the crash, sent again) carry the same webhook-id and bytes.
    const byCase = new Map<string, Set<string>>();
    for (const entry of receiver.received) {
      assert.ok(verifyCvSignature(entry.body, entry.headers['x-cv-signature'], secret));
      const { event, payload } = JSON.parse(entry.body.toString('utf8')) as {
        event: string;
        payload: { case: { id: string } };
      };
      assert.equal(event, 'CREATE_CASE');
      const ids = byCase.get(payload.case.id) ?? new Set<string>();
      ids.add(String(entry.headers['webhook-id']));
      byCase.set(payload.case.id, ids);
    }
    for (const [caseId, ids] of byCase) assert.equal(ids.size, 1, `one webhook-id for the event of case ${caseId}`);
    for (const caseId of cutShort) {
      assert.ok(receiver.events().filter((entry) => entry.payload.case?.id === caseId).length >= 2, 'sent again');
    }
  });
});
