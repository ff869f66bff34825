/**
 * Files too long to be JavaScript strings cheaply (src/http/large-base64.ts) go through the intake as the
 * short ones do: the same bytes stored, the same errors for bad content, oversize and the wrong type.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parsePhiKey, PhiCipher } from '../../src/crypto/phi.ts';
import { LARGE_STRING_BYTES } from '../../src/http/large-base64.ts';
import { DatabaseFileStorage } from '../../src/modules/files/storage.ts';
import { intakeTestContext, minimalBody, postIntake, weightQuestion, type TestContext } from './support.ts';
import { Tenant } from '../../src/http/gate.ts';

const PHI_KEY = randomBytes(32).toString('base64');
const MAX_FILE_BYTES = 300 * 1024;
const pdf = (bytes: number) => Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(bytes - 9)]);

describe('large files in an intake', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  before(async () => {
    context = await intakeTestContext({
      PHI_ENCRYPTION_KEY: PHI_KEY,
      FILE_MAX_BYTES: String(MAX_FILE_BYTES),
      FILES_MAX_TOTAL_BYTES: String(4 * MAX_FILE_BYTES),
    });
    ({ apiKey, organizationId } = await context.organization());
  });
  after(() => context.close());

  const withFiles = (answer: unknown) =>
    minimalBody({
      email: `large${randomBytes(4).toString('hex')}@example.com`,
      questions: [weightQuestion, { question: 'Upload your records', type: 'FILE', required: true, answer }],
    });

  it('stores each file byte for byte, as base64 and base64url, beside a small one', async () => {
    const files = [pdf(200 * 1024), pdf(LARGE_STRING_BYTES), pdf(100 * 1024 + 1), Buffer.from('small')];
    const answer = [
      { name: 'a.pdf', data: files[0]!.toString('base64') },
      { name: 'b.pdf', data: files[1]!.toString('base64url') },
      { name: 'c.pdf', data: `data:application/pdf;base64,${files[2]!.toString('base64')}` },
      { name: 'd.txt', data: files[3]!.toString('base64') },
    ];
    const { status, body } = await postIntake(context, apiKey, withFiles(answer));
    assert.equal(status, 200, JSON.stringify(body));
    const { rows } = await context.db.query<{ name: string; size_bytes: number; sha256: string; storage_key: string }>(
      `select name, size_bytes, sha256, storage_key from files
        where organization_id = $1 and form_response_id = $2 order by name`,
      [organizationId, body.data!.formResponseId],
    );
    assert.deepEqual(
      rows.map(({ name, size_bytes, sha256 }) => ({ name, size_bytes, sha256 })),
      files.map((content, index) => ({
        name: answer[index]!.name,
        size_bytes: content.length,
        sha256: createHash('sha256').update(content).digest('hex'),
      })),
    );
    const storage = new DatabaseFileStorage(new PhiCipher({ key: parsePhiKey(PHI_KEY) }));
    const stored = await storage.get(context.db, {
      tenant: Tenant.forOperator(organizationId, 'test'),
      storageKey: rows[0]!.storage_key,
    });
    assert.ok(stored?.equals(files[0]!), 'the content reads back unchanged');
  });

  it('answers bad, oversize and mistyped large files as it answers small ones, and stores nothing', async () => {
    const good = pdf(100 * 1024).toString('base64');
    const cases: [unknown, number, string][] = [
      [
        [{ name: 'x.pdf', data: `${good.slice(0, 40_000)}==${good.slice(40_000)}` }],
        400,
        'Validation failed: questions.1.answer.0.data: Must be valid base64 content or an http(s) URL',
      ],
      [
        [{ name: 'x.pdf', data: `${good}A` }], // one character past a whole group
        400,
        'Validation failed: questions.1.answer.0.data: Must be valid base64 content or an http(s) URL',
      ],
      [
        [{ name: 'x.pdf', data: pdf(MAX_FILE_BYTES + 1).toString('base64') }],
        413,
        `File 'x.pdf' is larger than the limit of ${MAX_FILE_BYTES} bytes`,
      ],
      [
        [{ name: 'x.png', data: good }],
        400,
        'Validation failed: questions.1.answer.0.data: Content is not a valid image/png file',
      ],
    ];
    const before = await context.db.query<{ n: number }>('select count(*)::int as n from files');
    for (const [answer, status, error] of cases) {
      const response = await postIntake(context, apiKey, withFiles(answer));
      assert.equal(response.status, status, JSON.stringify(response.body));
      assert.equal(response.body.error, error);
    }
    const afterwards = await context.db.query<{ n: number }>('select count(*)::int as n from files');
    assert.equal(afterwards.rows[0]!.n, before.rows[0]!.n);
  });

  it('reads long base64 outside a file as the text it was: a text answer meets its length limit', async () => {
    const text = randomBytes(40 * 1024).toString('base64');
    const body = minimalBody({
      email: `text${randomBytes(4).toString('hex')}@example.com`,
      questions: [{ question: 'Paste your records', type: 'TEXT', required: true, answer: text }],
    });
    const { status, body: response } = await postIntake(context, apiKey, body);
    assert.equal(status, 400);
    assert.equal(response.error, 'Validation failed: questions.0.answer: Must be at most 10000 characters');
  });
});
