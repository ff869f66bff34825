import assert from 'node:assert/strict';
import { createCipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { PhiKeyMismatchError, verifyPhiKey } from '../../src/crypto/phi-key-check.ts';
import { keyIdOf, PhiCipher } from '../../src/crypto/phi.ts';
import { Tenant } from '../../src/http/gate.ts';
import { enqueueWebhookEvent } from '../../src/modules/outbound-webhooks/events.ts';
import { WebhookRepository } from '../../src/modules/outbound-webhooks/repository.ts';
import { rotatePhiStep, type RotationCursor } from '../../src/modules/phi-keys/rotation.ts';
import { createServices } from '../../src/services.ts';
import { ADMIN_TOKEN, createTestContext, type TestContext } from '../support/app.ts';

/**
 * Key rotation on the engine of the run (issue 16, defect 13): a new key seals, old keys still open, and
 * `rotatePhiStep` (what `phi rotate` runs) seals every answer and file again under the new key, values from
 * before keys had ids included, while intakes go on; then the old key is retired and no longer needed.
 */
describe('PHI key rotation', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  let before_: TestContext;
  let after_: TestContext;
  const sent = new Map<string, string>(); // an answer's plaintext JSON by its text, to find it after rotation
  const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(300, 7)]);

  before(async () => {
    before_ = await createTestContext({
      PHI_ENCRYPTION_KEY: oldKey.toString('base64'),
      RATE_LIMIT_PER_KEY: '0',
      RATE_LIMIT_PER_ADDRESS: '0',
    });
  });
  after(async () => {
    await after_?.app.close();
    await before_.close();
  });

  async function intake(context: TestContext, apiKey: string, n: number): Promise<void> {
    const diagnosis = `diagnosis ${n} ${randomBytes(4).toString('hex')}`;
    sent.set(JSON.stringify(diagnosis), diagnosis);
    const response = await context.app.inject({
      method: 'POST',
      url: '/api/v1/dynamic-case',
      headers: { 'cv-api-key': apiKey },
      payload: {
        firstName: 'Rota',
        lastName: 'Tion',
        email: `rotation${n}@example.com`,
        formTitle: 'Rotation form',
        questions: [
          { question: 'Current weight', type: 'TEXT', required: true, answer: '180' },
          { question: 'Diagnosis', type: 'TEXT', required: true, phi: true, answer: diagnosis },
          {
            question: 'ID',
            type: 'FILE',
            required: false,
            answer: [{ name: `id${n}.png`, data: PNG.toString('base64') }],
          },
        ],
      },
    });
    assert.equal(response.statusCode, 200, response.body);
  }

  it('rotates every value to the new key while intakes go on, then retires the old key', async () => {
    const { apiKey, organizationId } = await before_.organization();
    assert.equal(await verifyPhiKey(before_.db, before_.services.phiCipher), 'recorded');
    for (let n = 0; n < 7; n++) await intake(before_, apiKey, n);

    // A comment, a webhook endpoint's secret and a delivery's body, sealed under the old key too.
    const tenant = Tenant.forOperator(organizationId, 'test');
    const sealOld = (text: string) => before_.services.phiCipher.encryptText(text);
    const { rows: cases } = await before_.db.query<{ id: string }>('select id from cases limit 1');
    await before_.db.query(
      'insert into case_comments (id, organization_id, case_id, encrypted_text) values ($1, $2, $3, $4)',
      [randomUUID(), organizationId, cases[0]!.id, await sealOld('a comment')],
    );
    await new WebhookRepository(before_.db, tenant).createEndpoint({
      url: 'https://hooks.example.com/care360',
      secretSealed: await sealOld('partner-secret'),
      events: null,
      documentFormat: 'BASE64',
      sendFullCaseData: false,
    });
    await enqueueWebhookEvent(before_.db, tenant, {
      caseId: cases[0]!.id,
      event: 'CREATE_CASE',
      eventId: randomUUID(),
    });
    await before_.db.query('update webhook_deliveries set body_sealed = $1', [
      await sealOld('{"event":"CREATE_CASE"}'),
    ]);
    // The organization's own gateway account, through the admin API.
    const credentials = await before_.app.inject({
      method: 'PATCH',
      url: `/admin/v1/organizations/${organizationId}/payment-gateways`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { nmiSecurityKey: 'own-nmi-security-key-1234', nmiTokenizationKey: 'own-collect-js-key-5678' },
    });
    assert.equal(credentials.statusCode, 200, credentials.body);

    // Two values as care360 sealed them before keys had ids (v1 text, iv|tag|ciphertext bytes), under the old key.
    const legacy = (plaintext: Buffer) => {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', oldKey, iv);
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return { iv, tag: cipher.getAuthTag(), ciphertext };
    };
    const { rows: firstAnswer } = await before_.db.query<{ id: string; encrypted_value: string }>(
      'select id, encrypted_value from answers where encrypted_value is not null order by id limit 1',
    );
    const plaintext = await before_.services.phiCipher.decryptText(firstAnswer[0]!.encrypted_value);
    const text = legacy(Buffer.from(plaintext));
    await before_.db.query('update answers set encrypted_value = $2 where id = $1', [
      firstAnswer[0]!.id,
      `v1.${text.iv.toString('base64')}.${text.tag.toString('base64')}.${text.ciphertext.toString('base64')}`,
    ]);
    const { rows: firstFile } = await before_.db.query<{ storage_key: string }>(
      'select storage_key from file_contents order by storage_key limit 1',
    );
    const bytes = legacy(PNG);
    await before_.db.query('update file_contents set content = $2 where storage_key = $1', [
      firstFile[0]!.storage_key,
      Buffer.concat([bytes.iv, bytes.tag, bytes.ciphertext]),
    ]);

    // The servers move to the new key, the old one kept to open what was sealed under it.
    after_ = { ...before_, ...(await appOnSameDatabase(before_, { current: newKey, old: [oldKey] })) };
    const rotating = after_.services.phiCipher;
    assert.equal(await verifyPhiKey(after_.db, rotating), 'recorded');
    // A process with the new key alone is refused: the database still holds values under the old one.
    await assert.rejects(verifyPhiKey(after_.db, new PhiCipher({ key: newKey })), PhiKeyMismatchError);

    // Rotation in small steps (2 rows a batch), resumed from its cursor, with intakes between the steps.
    let cursor: RotationCursor | null = null;
    let steps = 0;
    const resealed = {
      answers: 0,
      comments: 0,
      webhookSecrets: 0,
      webhookBodies: 0,
      gatewayCredentials: 0,
      profiles: 0,
      staffSecrets: 0,
      files: 0,
    };
    for (;;) {
      const step = await rotatePhiStep(after_.db, rotating, { cursor, batchSize: 2, timeBudgetMs: 0 });
      steps += 1;
      for (const count of Object.keys(resealed) as (keyof typeof resealed)[]) resealed[count] += step[count];
      await intake(after_, apiKey, 100 + steps);
      if (step.done) {
        assert.equal(step.remaining, 0);
        assert.deepEqual(step.retiredKeyIds, [keyIdOf(oldKey)]);
        break;
      }
      cursor = step.cursor;
      // Halfway, the rotation "crashes" and starts again from nothing: what is done is skipped, nothing is lost.
      if (steps === 3) cursor = null;
    }
    assert.ok(steps > 4, `${steps} steps`);
    assert.deepEqual(
      resealed,
      {
        answers: 7,
        comments: 1,
        webhookSecrets: 1,
        webhookBodies: 1,
        gatewayCredentials: 2,
        profiles: 0,
        staffSecrets: 0,
        files: 7,
      },
      'each old value sealed again exactly once',
    );

    // Every value is now under the new key, opens with it alone, and holds what was sent.
    const newOnly = new PhiCipher({ key: newKey });
    const { rows: answers } = await after_.db.query<{ encrypted_value: string }>(
      'select encrypted_value from answers where encrypted_value is not null',
    );
    assert.equal(answers.length, sent.size);
    for (const row of answers) {
      assert.ok(row.encrypted_value.startsWith(`v2.${keyIdOf(newKey)}.`), row.encrypted_value.slice(0, 20));
      assert.ok(sent.has(await newOnly.decryptText(row.encrypted_value)));
    }
    const { rows: files } = await after_.db.query<{ content: Uint8Array; sha256: string }>(
      'select c.content, f.sha256 from file_contents c join files f on f.storage_key = c.storage_key',
    );
    assert.equal(files.length, sent.size);
    for (const row of files) {
      const opened = await newOnly.decryptBytes(Buffer.from(row.content));
      assert.equal(createHash('sha256').update(opened).digest('hex'), row.sha256);
    }
    const { rows: webhookValues } = await after_.db.query<{ value: string }>(
      `select encrypted_text as value from case_comments
       union all select secret_sealed from webhook_endpoints
       union all select body_sealed from webhook_deliveries where body_sealed is not null`,
    );
    assert.deepEqual(await Promise.all(webhookValues.map((row) => newOnly.decryptText(row.value))), [
      'a comment',
      'partner-secret',
      '{"event":"CREATE_CASE"}',
    ]);
    const { rows: credentialValues } = await after_.db.query<{ value: string }>(
      `select secret_sealed as value from organization_gateway_credentials where organization_id = $1 order by name`,
      [organizationId],
    );
    assert.deepEqual(await Promise.all(credentialValues.map((row) => newOnly.decryptText(row.value))), [
      'own-nmi-security-key-1234',
      'own-collect-js-key-5678',
    ]);
    // The old key is retired: a process with the new key alone may start now; one with the old key alone may not.
    assert.equal(await verifyPhiKey(after_.db, newOnly), 'matches');
    await assert.rejects(verifyPhiKey(after_.db, new PhiCipher({ key: oldKey })), /PHI encryption key does not match/);
  });
});

/** The app on the same database with other PHI keys (as a restarted server). */
async function appOnSameDatabase(
  context: TestContext,
  keys: { current: Buffer; old: Buffer[] },
): Promise<Pick<TestContext, 'app' | 'services'>> {
  const config = loadConfig({
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_KEY: '0',
    RATE_LIMIT_PER_ADDRESS: '0',
    PHI_ENCRYPTION_KEY: keys.current.toString('hex'),
    PHI_ENCRYPTION_OLD_KEYS: keys.old.map((key) => key.toString('base64')).join(','),
  });
  const services = createServices(context.db, config);
  const app = await buildApp({ config, db: context.db, services, logger: false });
  await app.ready();
  return { app, services };
}
