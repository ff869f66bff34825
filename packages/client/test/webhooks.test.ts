import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { verifyWebhook, WebhookVerificationError } from '../src/webhooks.ts';

const event = { event: 'ADD_CASE_DECISION', payload: { case: { id: '9f0f2f70-f536-4b1d-8ed4-c831f4a4bcab' } } };

/** Signs as a Standard Webhooks sender does (the specification's construction, with node:crypto). */
function standardHeaders(body: string, secret: string, timestamp: number, id = 'msg_2Lh9KRb0pBMtzYxHP7w8pd1vXZ') {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` };
}

const rejects = (promise: Promise<unknown>, pattern: RegExp) =>
  assert.rejects(promise, (error: unknown) => error instanceof WebhookVerificationError && pattern.test(error.message));

describe('verifyWebhook', () => {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const body = JSON.stringify(event);
  const now = Math.floor(Date.now() / 1000);

  it("accepts the Standard Webhooks specification's own example", async () => {
    const verified = await verifyWebhook(
      '{"test": 2432232314}',
      {
        'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
        'webhook-timestamp': '1614265330',
        'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
      },
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      { now: new Date(1614265330 * 1000) },
    );
    assert.deepEqual(verified, {
      scheme: 'standard-webhooks',
      payload: { test: 2432232314 },
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: new Date(1614265330 * 1000),
    });
  });

  it('accepts a Standard Webhooks delivery given as Headers, a Node header record, a string or bytes', async () => {
    const headers = standardHeaders(body, secret, now);
    for (const [rawBody, given] of [
      [body, new Headers(headers)],
      [new TextEncoder().encode(body), headers],
      [Buffer.from(body), { ...headers, 'webhook-signature': [headers['webhook-signature']] }],
    ] as const) {
      const verified = await verifyWebhook(rawBody, given, secret);
      assert.equal(verified.scheme, 'standard-webhooks');
      assert.deepEqual(verified.payload, event);
      assert.equal(verified.id, 'msg_2Lh9KRb0pBMtzYxHP7w8pd1vXZ');
    }
  });

  it('accepts any one matching signature of several (a secret being rotated)', async () => {
    const headers = standardHeaders(body, secret, now);
    const otherSecret = `whsec_${randomBytes(32).toString('base64')}`;
    const other = standardHeaders(body, otherSecret, now)['webhook-signature'];
    const signature = `v2,abc ${other} ${headers['webhook-signature']}`;
    assert.equal(
      (await verifyWebhook(body, { ...headers, 'webhook-signature': signature }, secret)).scheme,
      'standard-webhooks',
    );
  });

  it('refuses a changed body, another secret, a missing header and an unsigned version', async () => {
    const headers = standardHeaders(body, secret, now);
    await rejects(verifyWebhook(body.replace('DECISION', 'COMMENT'), headers, secret), /No webhook-signature matches/);
    await rejects(verifyWebhook(body, headers, `whsec_${randomBytes(32).toString('base64')}`), /No webhook-signature/);
    const { 'webhook-id': _id, ...withoutId } = headers;
    await rejects(verifyWebhook(body, withoutId, secret), /Missing webhook-id/);
    const v2 = headers['webhook-signature'].replace('v1,', 'v2,');
    await rejects(verifyWebhook(body, { ...headers, 'webhook-signature': v2 }, secret), /No webhook-signature/);
    await rejects(verifyWebhook(body, headers, 'whsec_not base64!'), /not a whsec_ base64 secret/);
  });

  it('refuses a timestamp more than 5 minutes from now either way (a replay), and takes one within', async () => {
    // The clock is pinned: on a slow machine seconds pass between reading `now` and verifying.
    const at = { now: new Date(now * 1000) };
    for (const offset of [-301, 301]) {
      await rejects(verifyWebhook(body, standardHeaders(body, secret, now + offset), secret, at), /too far from now/);
    }
    for (const offset of [-299, 299]) {
      assert.equal(
        (await verifyWebhook(body, standardHeaders(body, secret, now + offset), secret, at)).scheme,
        'standard-webhooks',
      );
    }
    const old = standardHeaders(body, secret, now - 3600);
    assert.equal((await verifyWebhook(body, old, secret, { toleranceSeconds: 7200 })).scheme, 'standard-webhooks');
  });

  it('accepts the published x-cv-signature, as the published Node snippet computes it', async () => {
    const cvSecret = 'my-webhook-secret';
    const signature = createHmac('sha256', cvSecret).update(JSON.stringify(event), 'utf-8').digest('hex');
    const verified = await verifyWebhook(body, { 'x-cv-signature': signature }, cvSecret);
    assert.deepEqual(verified, { scheme: 'x-cv-signature', payload: event });
    await rejects(verifyWebhook(`${body} `, { 'x-cv-signature': signature }, cvSecret), /does not match/);
    await rejects(verifyWebhook(body, { 'x-cv-signature': signature }, 'another-secret'), /does not match/);
    await rejects(verifyWebhook(body, { 'x-cv-signature': 'zz' }, cvSecret), /does not match/);
    await rejects(verifyWebhook(body, {}, cvSecret), /Missing x-cv-signature/);
  });

  it('checks the Standard Webhooks headers when a delivery carries both, unless told which scheme', async () => {
    const standard = standardHeaders(body, secret, now - 3600); // out of tolerance
    const cv = createHmac('sha256', secret).update(body).digest('hex');
    const both = { ...standard, 'x-cv-signature': cv };
    await rejects(verifyWebhook(body, both, secret), /too far from now/);
    assert.equal((await verifyWebhook(body, both, secret, { scheme: 'x-cv-signature' })).scheme, 'x-cv-signature');
    await rejects(
      verifyWebhook(body, { 'x-cv-signature': cv }, secret, { scheme: 'standard-webhooks' }),
      /Missing webhook-id/,
    );
  });

  it('refuses a body that is not JSON, even when signed', async () => {
    const headers = standardHeaders('not json', secret, now);
    await rejects(verifyWebhook('not json', headers, secret), /not JSON/);
  });
});
