/**
 * Verifying the webhooks care360 sends, on the exact bytes received, with Web Crypto (Node 20+, Deno, Bun, browsers
 * and edge workers alike). Two schemes:
 *
 * - Standard Webhooks (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp` (Unix seconds) and
 *   `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, several separated by spaces while a
 *   secret rotates), keyed with the `whsec_` secret's base64 bytes. The timestamp must be within 5 minutes of now,
 *   so a captured delivery cannot be replayed later.
 * - The published `x-cv-signature`: the hex HMAC-SHA256 of the body, keyed with the secret as text (the published
 *   Node snippet: `createHmac('sha256', secret).update(body)`). It carries no timestamp: nothing stops a replay.
 *
 * When a delivery carries the Standard Webhooks headers, they are the ones checked.
 */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

export interface VerifiedWebhook<Payload = unknown> {
  scheme: 'standard-webhooks' | 'x-cv-signature';
  /** The body, parsed. */
  payload: Payload;
  /** `webhook-id` (Standard Webhooks): the same for every retry of one delivery, to drop duplicates. */
  id?: string;
  /** `webhook-timestamp` (Standard Webhooks). */
  timestamp?: Date;
}

export interface VerifyWebhookOptions {
  /** How far the Standard Webhooks timestamp may be from now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** Accept only this scheme (default: whichever the delivery carries, Standard Webhooks first). */
  scheme?: VerifiedWebhook['scheme'];
  /** The time to check the timestamp against (default: now). */
  now?: Date;
}

type HeaderSource = Headers | Record<string, string | readonly string[] | undefined>;

const DEFAULT_TOLERANCE_SECONDS = 5 * 60;
const encoder = new TextEncoder();

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | readonly string[] | undefined>;
  const key = Object.keys(record).find((candidate) => candidate.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  return typeof value === 'string' || value === undefined ? value : value[0];
}

function bytesOf(body: string | Uint8Array | ArrayBuffer): Uint8Array {
  if (typeof body === 'string') return encoder.encode(body);
  return body instanceof Uint8Array ? body : new Uint8Array(body);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const result = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}

function fromBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  const binary = atob(text);
  return Uint8Array.from(binary, (character) => character.charCodeAt(0));
}

function fromHex(text: string): Uint8Array | null {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(text)) return null;
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

/** HMAC-SHA256 verification in constant time (Web Crypto's `verify`). */
async function hmacMatches(key: Uint8Array, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const cryptoKey = await globalThis.crypto.subtle.importKey(
    'raw',
    key as BufferSource,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['verify'],
  );
  return globalThis.crypto.subtle.verify('HMAC', cryptoKey, signature as BufferSource, data as BufferSource);
}

function parse<Payload>(body: Uint8Array): Payload {
  try {
    return JSON.parse(new TextDecoder().decode(body)) as Payload;
  } catch {
    throw new WebhookVerificationError('The webhook body is not JSON');
  }
}

/**
 * Checks a webhook delivery's signature and answers its parsed body; throws `WebhookVerificationError` when the
 * signature is missing or wrong, or the Standard Webhooks timestamp is out of tolerance. Give it the raw body as
 * received (before any JSON parsing) and the request's headers (a `Headers` or Node's `request.headers`).
 */
export async function verifyWebhook<Payload = unknown>(
  rawBody: string | Uint8Array | ArrayBuffer,
  headers: HeaderSource,
  secret: string,
  options: VerifyWebhookOptions = {},
): Promise<VerifiedWebhook<Payload>> {
  if (!secret) throw new WebhookVerificationError('No webhook secret given');
  const body = bytesOf(rawBody);
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  const cvSignature = header(headers, 'x-cv-signature');
  const standard = id !== undefined || timestamp !== undefined || signatures !== undefined;

  if (options.scheme !== 'x-cv-signature' && (standard || options.scheme === 'standard-webhooks')) {
    if (!id || !timestamp || !signatures) {
      throw new WebhookVerificationError('Missing webhook-id, webhook-timestamp or webhook-signature');
    }
    if (!/^\d{1,12}$/.test(timestamp)) throw new WebhookVerificationError('Invalid webhook-timestamp');
    const sentAt = Number(timestamp);
    const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
    const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
    if (Math.abs(now - sentAt) > tolerance) {
      throw new WebhookVerificationError('The webhook-timestamp is too far from now (a replay, or a clock off)');
    }
    const prefixed = secret.startsWith('whsec_');
    const decoded = fromBase64(prefixed ? secret.slice('whsec_'.length) : secret);
    if (prefixed && (!decoded || decoded.length === 0)) {
      throw new WebhookVerificationError('The secret is not a whsec_ base64 secret');
    }
    // A secret the partner chose that is not base64 keys with its own bytes, as care360 signs with it.
    const key = decoded && decoded.length > 0 ? decoded : encoder.encode(secret);
    const signed = concat(encoder.encode(`${id}.${timestamp}.`), body);
    for (const candidate of signatures.split(' ')) {
      const [version, encoded] = candidate.split(',', 2);
      const signature = version === 'v1' && encoded ? fromBase64(encoded) : null;
      if (signature && (await hmacMatches(key, signed, signature))) {
        return { scheme: 'standard-webhooks', payload: parse<Payload>(body), id, timestamp: new Date(sentAt * 1000) };
      }
    }
    throw new WebhookVerificationError('No webhook-signature matches');
  }

  if (!cvSignature) throw new WebhookVerificationError('Missing x-cv-signature (and no Standard Webhooks headers)');
  const signature = fromHex(cvSignature.trim());
  if (!signature || !(await hmacMatches(encoder.encode(secret), body, signature))) {
    throw new WebhookVerificationError('The x-cv-signature does not match');
  }
  return { scheme: 'x-cv-signature', payload: parse<Payload>(body) };
}
