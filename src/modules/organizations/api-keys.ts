import { hash, randomBytes } from 'node:crypto';

/** Recognizable in a config file or a leaked-secret scan. */
export const API_KEY_PREFIX = 'c360_';

/** A new secret: 32 random bytes (256 bits), base64url, behind the prefix. Shown once, never stored. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/** Whether a key has the form of the keys generateApiKey makes (not whether it is one). */
export function isGeneratedApiKey(apiKey: string): boolean {
  return apiKey.length === API_KEY_PREFIX.length + 43 && /^c360_[A-Za-z0-9_-]{43}$/.test(apiKey);
}

/**
 * Keys have 256 bits of entropy, so a fast hash is enough (no dictionary to guess from) and keeps
 * the lookup on every request cheap. A BOOTSTRAP_API_KEY chosen by an operator is hashed the same way.
 */
export function hashApiKey(apiKey: string): string {
  return hash('sha256', apiKey, 'hex'); // one call, no Hash object: this runs on every request
}

/**
 * The non-secret head of a key, to tell keys apart in lists: 6 characters past the prefix of a
 * generated key (about 36 of its 256 bits). A key we did not generate (BOOTSTRAP_API_KEY) may be short
 * enough for any head to give it away, so it shows none.
 */
export function displayPrefix(apiKey: string): string {
  return apiKey.startsWith(API_KEY_PREFIX) && apiKey.length >= 40
    ? apiKey.slice(0, API_KEY_PREFIX.length + 6)
    : '(custom)';
}
