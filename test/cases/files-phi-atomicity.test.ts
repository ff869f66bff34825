import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadOrCreateKeyFile, parsePhiKey, PhiCipher, phiCipherFor } from '../../src/crypto/phi.ts';
import { ApiError } from '../../src/http/api-error.ts';
import type { IntakePaymentProcessor } from '../../src/modules/cases/intake/payments.ts';
import { DatabaseFileStorage } from '../../src/modules/files/storage.ts';
import {
  appWithPaymentProcessor,
  SEED_CONFLICT_BODY,
  count,
  intakeTestContext,
  minimalBody,
  postIntake,
  weightQuestion,
  type TestContext,
} from './support.ts';
import { Tenant } from '../../src/http/gate.ts';

const PHI_KEY = randomBytes(32).toString('base64');
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(200)]);

describe('files, PHI encryption and atomicity', () => {
  let context: TestContext;
  let apiKey: string;
  let organizationId: string;
  const cipher = new PhiCipher({ key: parsePhiKey(PHI_KEY) });

  before(async () => {
    context = await intakeTestContext({
      PHI_ENCRYPTION_KEY: PHI_KEY,
      FILE_MAX_BYTES: '2048',
      FILES_MAX_TOTAL_BYTES: '3000',
      FILES_MAX_PER_ANSWER: '3',
    });
    ({ apiKey, organizationId } = await context.organization());
  });
  after(() => context.close());

  const fileQuestion = (answer: unknown, phi = false) =>
    minimalBody({
      email: `files${randomBytes(4).toString('hex')}@example.com`,
      questions: [weightQuestion, { question: 'Upload your documents', type: 'FILE', required: true, phi, answer }],
    });

  describe('files', () => {
    it('decodes base64, stores name, content type, size and SHA-256, and the bytes encrypted', async () => {
      const { status, body } = await postIntake(
        context,
        apiKey,
        fileQuestion([
          { name: 'scan.png', data: PNG.toString('base64'), contentType: 'image/png' },
          { name: 'notes.txt', data: `data:text/plain;base64,${Buffer.from('hello').toString('base64')}` },
        ]),
      );
      assert.equal(status, 200, JSON.stringify(body));
      const { rows } = await context.db.query<{
        name: string;
        content_type: string;
        size_bytes: number;
        sha256: string;
        source: string;
        storage_key: string;
      }>(
        `select name, content_type, size_bytes, sha256, source, storage_key from files
          where organization_id = $1 and form_response_id = $2 order by name`,
        [organizationId, body.data!.formResponseId],
      );
      assert.deepEqual(
        rows.map(({ storage_key: _key, ...row }) => row),
        [
          {
            name: 'notes.txt',
            content_type: 'text/plain',
            size_bytes: 5,
            sha256: createHash('sha256').update('hello').digest('hex'),
            source: 'inline',
          },
          {
            name: 'scan.png',
            content_type: 'image/png',
            size_bytes: PNG.length,
            sha256: createHash('sha256').update(PNG).digest('hex'),
            source: 'inline',
          },
        ],
      );
      const scan = rows[1]!;
      const raw = await context.db.query<{ content: Uint8Array }>(
        'select content from file_contents where storage_key = $1',
        [scan.storage_key],
      );
      assert.equal(Buffer.from(raw.rows[0]!.content).includes(PNG.subarray(8, 40)), false, 'bytes are encrypted');
      const storage = new DatabaseFileStorage(cipher);
      const content = await storage.get(context.db, {
        tenant: Tenant.forOperator(organizationId, 'test'),
        storageKey: scan.storage_key,
      });
      assert.deepEqual(content, PNG);
      const stranger = await context.organization();
      assert.equal(
        await storage.get(context.db, {
          tenant: Tenant.forOperator(stranger.organizationId, 'test'),
          storageKey: scan.storage_key,
        }),
        null,
      );
    });

    it('stores a URL file as a reference without fetching it', async () => {
      const { status, body } = await postIntake(
        context,
        apiKey,
        fileQuestion([{ name: 'document.pdf', data: 'https://files.invalid/document.pdf' }]),
      );
      assert.equal(status, 200, JSON.stringify(body));
      const { rows } = await context.db.query(
        'select source, url, storage_key, size_bytes from files where form_response_id = $1',
        [body.data!.formResponseId],
      );
      assert.deepEqual(rows, [
        { source: 'url', url: 'https://files.invalid/document.pdf', storage_key: null, size_bytes: null },
      ]);
    });

    it('answers a file over FILE_MAX_BYTES with 413 in the intake envelope', async () => {
      const { status, body } = await postIntake(
        context,
        apiKey,
        fileQuestion([{ name: 'big.bin', data: randomBytes(2049).toString('base64') }]),
      );
      assert.equal(status, 413);
      assert.deepEqual(body, { success: false, error: "File 'big.bin' is larger than the limit of 2048 bytes" });
    });

    it('answers files over FILES_MAX_TOTAL_BYTES together with 413, and too many files with 400', async () => {
      const file = (name: string) => ({ name, data: randomBytes(1600).toString('base64') });
      const total = await postIntake(context, apiKey, fileQuestion([file('a.bin'), file('b.bin')]));
      assert.equal(total.status, 413);
      assert.deepEqual(total.body, {
        success: false,
        error: 'The files of this request total more than the limit of 3000 bytes',
      });
      const many = await postIntake(
        context,
        apiKey,
        fileQuestion([1, 2, 3, 4].map((index) => ({ name: `${index}.txt`, data: 'aGk=' }))),
      );
      assert.equal(many.status, 400);
      assert.deepEqual(many.body, {
        success: false,
        error: 'Validation failed: questions.1.answer: At most 3 files per answer',
      });
    });

    it('accepts base64 broken into lines (MIME style), decoded to the same bytes', async () => {
      const wrapped = (PNG.toString('base64').match(/.{1,16}/g) ?? []).join('\r\n ');
      const { status, body } = await postIntake(context, apiKey, fileQuestion([{ name: 'scan.png', data: wrapped }]));
      assert.equal(status, 200, JSON.stringify(body));
      const { rows } = await context.db.query<{ sha256: string; size_bytes: number }>(
        'select sha256, size_bytes from files where organization_id = $1 and form_response_id = $2',
        [organizationId, body.data!.formResponseId],
      );
      assert.deepEqual(rows, [{ sha256: createHash('sha256').update(PNG).digest('hex'), size_bytes: PNG.length }]);
    });

    it('rejects bad base64, an empty file and a non-http URL', async () => {
      for (const [data, message] of [
        ['abc$%^', 'Must be valid base64 content or an http(s) URL'],
        ['QUJD\nRE$F', 'Must be valid base64 content or an http(s) URL'],
        ['====', 'Must be valid base64 content or an http(s) URL'],
        ['javascript://alert(1)', 'Must be base64 content or an http(s) URL'],
        ['https://user:secret@example.com/a.pdf', 'URL must not contain credentials'],
      ]) {
        const { status, body } = await postIntake(context, apiKey, fileQuestion([{ name: 'x.pdf', data }]));
        assert.equal(status, 400, data);
        assert.equal(body.error, `Validation failed: questions.1.answer.0.data: ${message}`);
      }
    });
  });

  describe('PHI', () => {
    it('encrypts answers of phi questions at rest with AES-256-GCM and leaves the others readable', async () => {
      const { status, body } = await postIntake(
        context,
        apiKey,
        minimalBody({
          email: 'phi@example.com',
          questions: [
            { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '212 lbs', phi: true },
            { question: 'Favourite colour', type: 'TEXT', required: false, answer: 'blue' },
          ],
        }),
      );
      assert.equal(status, 200, JSON.stringify(body));
      const { rows } = await context.db.query<{ value: unknown; encrypted_value: string | null }>(
        `select a.value, a.encrypted_value from answers a join questions q on q.id = a.question_id
          where a.form_response_id = $1 order by q.position`,
        [body.data!.formResponseId],
      );
      assert.equal(rows[0]!.value, null);
      assert.match(rows[0]!.encrypted_value!, /^v2\.[A-Za-z0-9_-]{16}\./);
      assert.equal(rows[0]!.encrypted_value!.includes('212'), false);
      assert.equal(await cipher.decryptText(rows[0]!.encrypted_value!), '"212 lbs"');
      assert.deepEqual(rows[1], { value: 'blue', encrypted_value: null });
      const tampered = rows[0]!.encrypted_value!.replace(/.$/, (last) => (last === 'A' ? 'B' : 'A'));
      await assert.rejects(cipher.decryptText(tampered));
    });

    it('generates the key file once, with mode 0600, and reuses it', async () => {
      const directory = await mkdtemp(path.join(tmpdir(), 'care360-phi-'));
      try {
        const file = path.join(directory, 'nested', 'phi.key');
        const first = await loadOrCreateKeyFile(file);
        const second = await loadOrCreateKeyFile(file);
        assert.deepEqual(first.key, second.key);
        assert.deepEqual([first.created, second.created], [true, false]);
        assert.equal(first.key.length, 32);
        assert.equal((await stat(file)).mode & 0o777, 0o600);
        const fromDataDir = phiCipherFor({
          configuredKey: undefined,
          dataDir: path.join(directory, 'nested'),
          engine: 'pglite',
          inMemory: false,
        });
        const sealed = await fromDataDir.encryptText('secret');
        assert.equal(
          await new PhiCipher({ key: parsePhiKey(await readFile(file, 'utf8')) }).decryptText(sealed),
          'secret',
        );
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    });
  });

  describe('the payment seam and atomicity', () => {
    const appWith = (payments: IntakePaymentProcessor) => appWithPaymentProcessor(context, payments);

    it('adds the paymentId that record returns to the success body, and records inside the transaction', async () => {
      const calls: string[] = [];
      const app = await appWith({
        prepare: async ({ payment }) => {
          calls.push('prepare');
          return { amountCents: payment.amountCents };
        },
        record: async (tx, { caseId, prepared }) => {
          calls.push('record');
          const { rows } = await tx.query('select 1 from cases where id = $1', [caseId]);
          assert.equal(rows.length, 1, 'the case exists when record runs');
          assert.deepEqual(prepared, { amountCents: 1999 });
          return { paymentId: 'payment-123' };
        },
      });
      try {
        const request = (key: string) =>
          app.inject({
            method: 'POST',
            url: '/api/v1/dynamic-case',
            headers: { 'cv-api-key': apiKey },
            payload: minimalBody({ email: 'seam@example.com', paymentAmount: 19.99, idempotencyKey: key }),
          });
        const response = await request('seam-key');
        assert.equal(response.statusCode, 200);
        assert.equal(response.json().data.paymentId, 'payment-123');
        const repeat = await request('seam-key');
        assert.deepEqual(repeat.json(), SEED_CONFLICT_BODY);
        assert.deepEqual(calls, ['prepare', 'record'], 'a repeated key never reaches the payment processor');
      } finally {
        await app.close();
      }
    });

    it('leaves nothing behind when a step inside the transaction fails', async () => {
      const organization = await context.organization();
      const app = await appWith({
        // Something to record: the failing step runs inside the transaction, after the files.
        prepare: async () => ({ charge: 'to record' }),
        record: async () => {
          throw new ApiError(402, 'Your card was declined');
        },
      });
      try {
        const response = await app.inject({
          method: 'POST',
          url: '/api/v1/dynamic-case',
          headers: { 'cv-api-key': organization.apiKey },
          payload: minimalBody({
            email: 'atomic@example.com',
            password: 'secret password',
            idempotencyKey: 'atomic-key',
            paymentAmount: 25, // a payment to prepare and record: the processor is asked only when there is one
            questions: [
              weightQuestion,
              {
                question: 'ID',
                type: 'WIDGET_USER_ID_DOCUMENT',
                required: true,
                answer: [{ name: 'id.png', data: PNG.toString('base64') }],
              },
            ],
          }),
        });
        assert.equal(response.statusCode, 402);
        assert.deepEqual(response.json(), { success: false, error: 'Your card was declined' });
        for (const table of [
          'patients',
          'forms',
          'questions',
          'cases',
          'form_responses',
          'answers',
          'files',
          'file_contents',
        ]) {
          assert.equal(await count(context, table, organization.organizationId), 0, table);
        }
        // The key was not used up: the same request succeeds once the failure is gone.
        const retry = await postIntake(
          context,
          organization.apiKey,
          minimalBody({ email: 'atomic@example.com', idempotencyKey: 'atomic-key' }),
        );
        assert.equal(retry.status, 200);
      } finally {
        await app.close();
      }
    });
  });
});
