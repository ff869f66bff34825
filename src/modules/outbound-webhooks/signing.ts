import { createHmac, randomBytes } from 'node:crypto';

/** A new signing secret in the Standard Webhooks form: `whsec_` and 32 random bytes in base64. */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

/** The base64 of a Standard Webhooks secret (after `whsec_`), when it is well-formed base64. */
function base64Part(secret: string): Buffer | null {
  const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  if (encoded.length === 0 || encoded.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return null;
  return Buffer.from(encoded, 'base64');
}

/** A secret a partner may choose: a `whsec_` secret must hold base64 (the Standard Webhooks form). */
export function isUsableSecret(secret: string): boolean {
  return !secret.startsWith('whsec_') || base64Part(secret) !== null;
}

/**
 * The Standard Webhooks key of a secret: its base64 bytes (after an optional `whsec_`), as the Standard Webhooks
 * libraries read it; a secret the partner chose that is not base64 keys with its UTF-8 bytes. @care360/client's
 * verifyWebhook reads a secret the same way.
 */
export function standardWebhooksKey(secret: string): Buffer {
  return base64Part(secret) ?? Buffer.from(secret, 'utf8');
}

/**
 * The signature headers of one delivery, over the exact bytes sent: `x-cv-signature` (the published scheme, hex
 * HMAC-SHA256 of the body keyed with the secret as text) and the Standard Webhooks trio (`webhook-id`, the
 * same for every retry of one delivery; `webhook-timestamp`, Unix seconds; `webhook-signature`, `v1,` and the
 * base64 HMAC-SHA256 of `id.timestamp.body`).
 */
export function signatureHeaders(
  secret: string,
  messageId: string,
  body: Buffer,
  now: Date = new Date(),
): Record<string, string> {
  const timestamp = String(Math.floor(now.getTime() / 1000));
  const standard = createHmac('sha256', standardWebhooksKey(secret))
    .update(`${messageId}.${timestamp}.`)
    .update(body)
    .digest('base64');
  return {
    'x-cv-signature': createHmac('sha256', secret).update(body).digest('hex'),
    'webhook-id': messageId,
    'webhook-timestamp': timestamp,
    'webhook-signature': `v1,${standard}`,
  };
}
