import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomFillSync } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Encryption at rest for protected health information (answers to `phi: true` questions, file contents):
 * AES-256-GCM with a random 96-bit IV per value; the auth tag makes any tampering fail loudly.
 *
 * Text form: `v1.<iv base64>.<tag base64>.<ciphertext base64>`. Binary form: `iv(12) | tag(16) | ciphertext`.
 */
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const VERSION = 'v1';

export class PhiKeyError extends Error {}

/**
 * IVs are cut from one buffer of CSPRNG bytes, refilled every 256 IVs, as `randomUUID` does for UUIDs: a
 * `randomBytes` call per IV was half the cost of sealing a short answer. Each IV is used once.
 */
const IV_POOL = Buffer.alloc(IV_BYTES * 256);
let ivPoolOffset = IV_POOL.length;

function nextIv(): Buffer {
  if (ivPoolOffset === IV_POOL.length) {
    randomFillSync(IV_POOL);
    ivPoolOffset = 0;
  }
  const iv = Buffer.from(IV_POOL.subarray(ivPoolOffset, ivPoolOffset + IV_BYTES));
  ivPoolOffset += IV_BYTES;
  return iv;
}

/** A 32-byte key given as 64 hex characters or as base64 (standard or URL-safe). */
export function parsePhiKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES) {
    throw new PhiKeyError('PHI encryption key must be 32 bytes, given as 64 hex characters or base64');
  }
  return key;
}

/**
 * Reads the key file, or creates it once (mode 0600) when it does not exist. `wx` makes creation
 * exclusive, so two processes starting together end up with the same key.
 */
export async function loadOrCreateKeyFile(file: string): Promise<Buffer> {
  try {
    return parsePhiKey(await readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(path.dirname(file), { recursive: true });
  try {
    await writeFile(file, `${randomBytes(KEY_BYTES).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(file, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return parsePhiKey(await readFile(file, 'utf8'));
}

export type PhiKeySource = { key: Buffer } | { keyFile: string };

export class PhiCipher {
  private key: Promise<Buffer> | undefined;

  /** The key is resolved on first use, so a process that never stores PHI never creates a key file. */
  constructor(private readonly source: PhiKeySource) {
    if ('key' in source && source.key.length !== KEY_BYTES) throw new PhiKeyError('PHI key must be 32 bytes');
  }

  /** A cipher with a random key that lives as long as the process (in-memory test databases). */
  static ephemeral(): PhiCipher {
    return new PhiCipher({ key: randomBytes(KEY_BYTES) });
  }

  private resolveKey(): Promise<Buffer> {
    if (!this.key) {
      const source = this.source;
      this.key = 'key' in source ? Promise.resolve(source.key) : loadOrCreateKeyFile(source.keyFile);
      // A failed load (unreadable file) is retried on the next use instead of being cached.
      this.key.catch(() => (this.key = undefined));
    }
    return this.key;
  }

  /** Identifies the key without revealing it: HMAC-SHA256 of a fixed label, keyed by the PHI key. */
  async keyCheckValue(): Promise<string> {
    return createHmac('sha256', await this.resolveKey())
      .update('care360 PHI key check v1')
      .digest('base64url');
  }

  /** Seals a value under a fresh IV: its IV, auth tag and ciphertext, from which either form is built. */
  private async seal(plaintext: Buffer | string): Promise<{ iv: Buffer; tag: Buffer; ciphertext: Buffer }> {
    const key = await this.resolveKey();
    const iv = nextIv();
    const cipher = createCipheriv(ALGORITHM, key, iv);
    const head = typeof plaintext === 'string' ? cipher.update(plaintext, 'utf8') : cipher.update(plaintext);
    const tail = cipher.final(); // nothing more for GCM (a stream mode), but it must end before the tag is read
    const ciphertext = tail.length === 0 ? head : Buffer.concat([head, tail]);
    return { iv, tag: cipher.getAuthTag(), ciphertext };
  }

  async encryptBytes(plaintext: Buffer): Promise<Buffer> {
    const { iv, tag, ciphertext } = await this.seal(plaintext);
    return Buffer.concat([iv, tag, ciphertext]);
  }

  async decryptBytes(sealed: Buffer): Promise<Buffer> {
    const key = await this.resolveKey();
    const iv = sealed.subarray(0, IV_BYTES);
    const tag = sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES);
    const decipher = createDecipheriv(ALGORITHM, key, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  }

  async encryptText(plaintext: string): Promise<string> {
    const { iv, tag, ciphertext } = await this.seal(plaintext);
    return `${VERSION}.${iv.toString('base64')}.${tag.toString('base64')}.${ciphertext.toString('base64')}`;
  }

  async decryptText(sealed: string): Promise<string> {
    const [version, iv, tag, ciphertext] = sealed.split('.');
    if (version !== VERSION || iv === undefined || tag === undefined || ciphertext === undefined) {
      throw new PhiKeyError('Unrecognized PHI ciphertext format');
    }
    const bytes = Buffer.concat([
      Buffer.from(iv, 'base64'),
      Buffer.from(tag, 'base64'),
      Buffer.from(ciphertext, 'base64'),
    ]);
    return (await this.decryptBytes(bytes)).toString('utf8');
  }
}

/**
 * The PHI cipher a process uses: PHI_ENCRYPTION_KEY when set; a per-process random key for an in-memory
 * database (tests: nothing encrypted outlives the process); otherwise the key file DATA_DIR/phi.key.
 */
export function phiCipherFor(options: {
  configuredKey: string | undefined;
  dataDir: string;
  inMemory: boolean;
}): PhiCipher {
  if (options.configuredKey) return new PhiCipher({ key: parsePhiKey(options.configuredKey) });
  if (options.inMemory) return PhiCipher.ephemeral();
  return new PhiCipher({ keyFile: path.resolve(options.dataDir, 'phi.key') });
}
