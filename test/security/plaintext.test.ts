import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import {
  ADMIN_TOKEN,
  bodyFor,
  contextWithRouteTable,
  createOrganizationFixture,
  fillPath,
  inject,
  routeName,
  type OrganizationFixture,
  type RouteTableContext,
} from './support.ts';

/** What every API answer says a browser may do with it: nothing (src/app.ts). */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/** Every row of every table of the schema, as text a secret could be found in (bytes read as Latin-1). */
async function dumpTables(context: RouteTableContext): Promise<{ tables: number; rows: number; text: string }> {
  const { rows: tables } = await context.db.query<{ table_name: string }>(
    `select table_name from information_schema.tables
      where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`,
  );
  let rows = 0;
  const parts: string[] = [];
  for (const { table_name: table } of tables) {
    const result = await context.db.query<Record<string, unknown>>(`select * from "${table}"`);
    rows += result.rows.length;
    for (const row of result.rows) {
      for (const value of Object.values(row)) {
        if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString('latin1'));
        else if (value instanceof Date) parts.push(value.toISOString());
        else parts.push(typeof value === 'string' ? value : JSON.stringify(value));
      }
    }
  }
  return { tables: tables.length, rows, text: parts.join('\n') };
}

/** The plaintext and its usual encodings: a secret stored as base64 or hex is stored in plaintext. */
function encodings(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  return [secret, bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex')];
}

describe('nothing secret in the database in plaintext', () => {
  let fake: FakeStripeServer;
  let context: RouteTableContext;
  let owner: OrganizationFixture;

  before(async () => {
    fake = await startFakeStripe();
    context = await contextWithRouteTable(fake.environment());
    owner = await createOrganizationFixture(context, 'Plain');
  });
  after(async () => {
    await context.close();
    await fake.stop();
  });

  it('keeps passwords, PHI answers (every shape), file bytes and API keys out of every table', async () => {
    const marker = randomUUID().slice(0, 8);
    const password = `Password-${marker}-correct horse`;
    const phiText = `Diagnosed with condition-${marker}`;
    const phiChoice = `Medication-${marker}`;
    const fileText = `scan of a driving licence ${marker}`;
    const publicAnswer = `${marker}-180 lbs`;
    const intake = await inject(context.app, 'POST', '/api/v1/dynamic-case', owner.apiKey, {
      firstName: 'Plain',
      lastName: 'Text',
      email: `plain-${marker}@example.com`,
      password,
      formTitle: `Plaintext form ${marker}`,
      questions: [
        { question: 'What is your current weight?', type: 'TEXT', required: true, answer: publicAnswer },
        { question: 'Diagnoses', type: 'TEXT', required: true, phi: true, answer: phiText },
        {
          question: 'Medications',
          type: 'MULTISELECT',
          required: false,
          phi: true,
          options: [phiChoice, 'None'],
          answer: JSON.stringify([phiChoice]),
        },
        {
          question: 'Identity document',
          type: 'FILE',
          required: false,
          phi: true,
          answer: [
            { name: 'id.txt', contentType: 'text/plain', data: Buffer.from(fileText, 'utf8').toString('base64') },
          ],
        },
      ],
    });
    assert.equal(intake.status, 200, intake.text);

    // A key issued through the operator API, and the organization's first key.
    const issued = await context.app.inject({
      method: 'POST',
      url: `/admin/v1/organizations/${owner.organizationId}/api-keys`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ label: 'second key' }),
    });
    assert.equal(issued.statusCode, 201, issued.body);
    const secondKey = (issued.json() as { apiKey: string }).apiKey;
    assert.ok(secondKey.length >= 32);

    const dump = await dumpTables(context);
    assert.ok(dump.tables >= 15, `${dump.tables} tables`);
    // The scan sees what is stored in plaintext: the answer that is not PHI is there.
    assert.ok(dump.text.includes(publicAnswer), 'the non-PHI answer is stored as given (the scan works)');

    const secrets: Record<string, string> = {
      password,
      'PHI TEXT answer': phiText,
      'PHI MULTISELECT answer': JSON.stringify([phiChoice]),
      'PHI file bytes': fileText,
      'API key': owner.apiKey,
      'API key (operator API)': secondKey,
      'admin token': ADMIN_TOKEN,
    };
    const found = Object.entries(secrets).flatMap(([name, secret]) =>
      encodings(secret)
        .filter((encoded) => dump.text.includes(encoded))
        .map((encoded) => `${name} (${encoded})`),
    );
    assert.deepEqual(found, []);
    // The answer text appears as an option of the form (a question's definition is not PHI), but never
    // as the stored answer: the answers table holds only ciphertext for PHI questions.
    const { rows } = await context.db.query<{ value: unknown; encrypted_value: string | null }>(
      `select a.value, a.encrypted_value from answers a join questions q on q.id = a.question_id
        where q.phi and a.organization_id = $1`,
      [owner.organizationId],
    );
    assert.ok(rows.length >= 4, `${rows.length} PHI answers`);
    for (const row of rows) {
      assert.equal(row.value, null);
      assert.ok(row.encrypted_value && !row.encrypted_value.includes(marker));
    }
    console.log(`plaintext scan: ${dump.tables} tables, ${dump.rows} rows, ${Object.keys(secrets).length} secrets`);
  });
});

describe('security headers on every route', () => {
  let fake: FakeStripeServer;
  let context: RouteTableContext;
  let owner: OrganizationFixture;

  before(async () => {
    fake = await startFakeStripe();
    context = await contextWithRouteTable(fake.environment());
    owner = await createOrganizationFixture(context, 'Headers');
  });
  after(async () => {
    await context.close();
    await fake.stop();
  });

  it('nosniff on every answer; no-store and a Content-Security-Policy of none on every API answer, errors included', async () => {
    const ids: Record<string, string> = {
      ...owner.ids,
      organizationId: owner.organizationId,
      apiKeyId: owner.apiKeyId,
    };
    let checked = 0;
    for (const route of context.routes) {
      const url = route.url.includes('*') ? route.url.replace('*', 'index.css') : route.url;
      const filled = fillPath(
        url,
        Object.fromEntries(route.params.map((param) => [param, ids[param] ?? randomUUID()])),
      );
      const variants = [
        { name: 'authorized', key: route.config.auth === 'admin' ? null : owner.apiKey },
        { name: 'unauthenticated', key: null },
      ];
      for (const variant of variants) {
        const response = await context.app.inject({
          method: route.method as 'GET',
          url: filled,
          headers: {
            ...(variant.key && route.config.auth !== 'bodyKey' ? { 'cv-api-key': variant.key } : {}),
            ...(route.config.auth === 'admin' && variant.name === 'authorized'
              ? { authorization: `Bearer ${ADMIN_TOKEN}` }
              : {}),
            ...(route.method === 'GET' ? {} : { 'content-type': 'application/json' }),
          },
          ...(route.method === 'GET' ? {} : { payload: JSON.stringify(bodyFor(route) ?? {}) }),
        });
        const where = `${routeName(route)} (${variant.name}) -> ${response.statusCode}`;
        assert.equal(response.headers['x-content-type-options'], 'nosniff', where);
        if (route.url.startsWith('/console/assets/')) {
          // The console's bundle: no data in it, so revalidated rather than never stored.
          assert.equal(response.headers['cache-control'], 'no-cache', where);
          assert.equal(response.headers['content-security-policy'], API_CSP, where);
        } else if (route.url.startsWith('/docs') || route.url.startsWith('/console')) {
          // The reference's and the console's own policies (src/http/openapi.ts, src/modules/console/routes.ts):
          // their scripts from this server only.
          assert.match(String(response.headers['content-security-policy']), /script-src 'self'/, where);
        } else {
          assert.equal(response.headers['cache-control'], 'no-store', where);
          assert.equal(response.headers['content-security-policy'], API_CSP, where);
        }
        checked += 1;
      }
    }
    // Answers no route gives: unknown paths, malformed JSON, unsupported media types.
    const edges = [
      await context.app.inject({ method: 'GET', url: '/api/v1/no-such-route' }),
      // Refused by the router before any route matches: an over-long and a malformed path parameter.
      await context.app.inject({ method: 'GET', url: `/api/v1/forms/${'x'.repeat(500)}` }),
      await context.app.inject({ method: 'GET', url: '/api/v1/forms/%E0%A4%A' }),
      await context.app.inject({
        method: 'POST',
        url: '/api/v1/dynamic-case',
        headers: { 'cv-api-key': owner.apiKey, 'content-type': 'application/json' },
        payload: '{"firstName":',
      }),
      await context.app.inject({
        method: 'POST',
        url: '/api/v1/dynamic-case',
        headers: { 'cv-api-key': owner.apiKey, 'content-type': 'text/plain' },
        payload: 'hello',
      }),
      // Beside the reference pages, not one of them: /docs is a folder, not a prefix.
      await context.app.inject({ method: 'GET', url: '/docsXYZ' }),
      await context.app.inject({ method: 'GET', url: '/docs.json' }),
    ];
    for (const response of edges) {
      assert.equal(response.headers['x-content-type-options'], 'nosniff', String(response.statusCode));
      assert.equal(response.headers['cache-control'], 'no-store', String(response.statusCode));
      assert.equal(response.headers['content-security-policy'], API_CSP, String(response.statusCode));
    }
    assert.ok(checked >= context.routes.length * 2);
  });

  it('the same headers and the standard envelope on what Node refuses before any route: 431 (headers or URL too large), 400', async () => {
    await context.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = context.app.server.address() as AddressInfo;
    const requests = {
      'a header over the limit': `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      'a URL over the limit': `GET /health?${'q'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      'a malformed request line': 'GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n',
    };
    const expected = [431, 431, 400];
    for (const [index, [name, request]] of Object.entries(requests).entries()) {
      const answer = await rawAnswer(port, request);
      const status = expected[index]!;
      const [head = '', body = ''] = answer.split('\r\n\r\n');
      const headers = Object.fromEntries(
        head
          .split('\r\n')
          .slice(1)
          .map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), name);
      assert.equal(headers['x-content-type-options'], 'nosniff', name);
      assert.equal(headers['cache-control'], 'no-store', name);
      assert.equal(headers['content-security-policy'], API_CSP, name);
      assert.equal(headers.connection, 'close', name);
      assert.match(headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/, name);
      const json = JSON.parse(body) as { status: number; success: boolean; error: string };
      assert.deepEqual(Object.keys(json).sort(), ['error', 'status', 'success'], name);
      assert.equal(json.status, status, name);
    }
  });
});

/** Everything the server sends on a connection that sent `request` raw, until it closes it. */
async function rawAnswer(port: number, request: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  let answer = '';
  socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  socket.write(request);
  await once(socket, 'close');
  return answer;
}
