import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomFillSync } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Encryption at rest for protected health information (answers to `phi: true` questions, file contents):
 * AES-256-GCM with a random 96-bit IV per value; the auth tag makes any tampering fail loudly.
 *
 * A process holds a key ring: the current key, which seals every new value, and old keys, which still open
 * the values sealed under them until `npm run cli -- phi rotate` has sealed those again under the current key.
 * Each key has an id (keyIdOf), written into every value sealed under it:
 *
 * - text: `v2.<key id>.<iv base64>.<tag base64>.<ciphertext base64>`;
 * - bytes: `C36` 0x02 | key id (12 bytes) | iv (12) | tag (16) | ciphertext.
 *
 * Values sealed before keys had ids (text `v1.<iv>.<tag>.<ciphertext>`, bytes `iv | tag | ciphertext`) open
 * with whichever key of the ring authenticates them.
 */
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID_BYTES = 12; // 16 characters of base64url
const TEXT_VERSION = 'v2';
const LEGACY_TEXT_VERSION = 'v1';
const BYTES_MAGIC = Buffer.from([0x43, 0x33, 0x36, 0x02]); // "C36", format 2
const BYTES_HEADER = BYTES_MAGIC.length + KEY_ID_BYTES;

export class PhiKeyError extends Error {}

/** How an operator makes a key; every message that asks for one says it. */
export const MAKE_KEY_HINT = 'make one with `openssl rand -base64 32` or `npm run cli -- phi new-key`';

/**
 * IVs are cut from one buffer of CSPRNG bytes, refilled every 256 IVs, as `randomUUID` does for UUIDs: a
 * `randomBytes` call per IV costs more than sealing a short answer itself (docs/performance.md). Each IV is
 * used once.
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
    throw new PhiKeyError(`A PHI encryption key is 32 bytes, given as 64 hex characters or base64: ${MAKE_KEY_HINT}`);
  }
  return key;
}

/** A new random key, as base64 (what `phi new-key` prints). */
export const newPhiKey = (): string => randomBytes(KEY_BYTES).toString('base64');

/**
 * A key's id: the start of an HMAC-SHA256 of a fixed label under the key, which reveals nothing about the key.
 * It is also the first 16 characters of the check value the database recorded before keys had ids
 * (migration 0080), so the key of an existing database keeps its id.
 */
export function keyIdOf(key: Buffer): string {
  return createHmac('sha256', key).update('care360 PHI key check v1').digest('base64url').slice(0, 16);
}

/**
 * Reads the key file, or creates it once (mode 0600) when it does not exist. `wx` makes creation
 * exclusive, so two processes starting together end up with the same key.
 */
export async function loadOrCreateKeyFile(file: string): Promise<{ key: Buffer; created: boolean }> {
  try {
    return { key: parsePhiKey(await readFile(file, 'utf8')), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(path.dirname(file), { recursive: true });
  let created = true;
  try {
    await writeFile(file, `${newPhiKey()}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(file, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    created = false;
  }
  return { key: parsePhiKey(await readFile(file, 'utf8')), created };
}

/**
 * Where a process's keys come from: given (PHI_ENCRYPTION_KEY), a key file made on first use (the embedded
 * default), or nowhere (PostgreSQL without PHI_ENCRYPTION_KEY: `missing` is the error any use of a key raises).
 */
export type PhiKeySource =
  { key: Buffer; oldKeys?: Buffer[] } | { keyFile: string; oldKeys?: Buffer[] } | { missing: string };

interface KeyRing {
  current: { id: string; key: Buffer };
  byId: Map<string, Buffer>;
}

/** What a process encrypts with, for its start-up log; never the keys themselves. */
export interface PhiKeyDescription {
  currentKeyId: string;
  oldKeyIds: string[];
  /** The key file, when the current key is DATA_DIR/phi.key; `created` when this process made it. */
  keyFile?: { path: string; created: boolean };
}

export class PhiCipher {
  private ring: Promise<KeyRing> | undefined;
  private keyFileCreated = false;

  /** The keys are resolved on first use: a process that never stores PHI never creates a key file. */
  constructor(private readonly source: PhiKeySource) {
    if ('key' in source && source.key.length !== KEY_BYTES) throw new PhiKeyError('PHI key must be 32 bytes');
  }

  /** A cipher with a random key that lives as long as the process (in-memory test databases). */
  static ephemeral(): PhiCipher {
    return new PhiCipher({ key: randomBytes(KEY_BYTES) });
  }

  private resolveRing(): Promise<KeyRing> {
    if (!this.ring) {
      this.ring = this.loadRing();
      // A failed load (unreadable file) is retried on the next use instead of being cached.
      this.ring.catch(() => (this.ring = undefined));
    }
    return this.ring;
  }

  private async loadRing(): Promise<KeyRing> {
    const source = this.source;
    if ('missing' in source) throw new PhiKeyError(source.missing);
    let current: Buffer;
    if ('key' in source) {
      current = source.key;
    } else {
      const loaded = await loadOrCreateKeyFile(source.keyFile);
      current = loaded.key;
      this.keyFileCreated ||= loaded.created;
    }
    const currentId = keyIdOf(current);
    const byId = new Map([[currentId, current]]);
    for (const old of source.oldKeys ?? []) byId.set(keyIdOf(old), old);
    return { current: { id: currentId, key: current }, byId };
  }

  /** The ids of the current and old keys, and the key file (made now if it did not exist). */
  async describe(): Promise<PhiKeyDescription> {
    const ring = await this.resolveRing();
    return {
      currentKeyId: ring.current.id,
      oldKeyIds: [...ring.byId.keys()].filter((id) => id !== ring.current.id),
      ...('keyFile' in this.source ? { keyFile: { path: this.source.keyFile, created: this.keyFileCreated } } : {}),
    };
  }

  /**
   * A key for another purpose (signing file download links), derived from the current key: every server
   * that shares the PHI key shares it, and no second secret has to be configured.
   */
  async derivedKey(purpose: string): Promise<Buffer> {
    const { current } = await this.resolveRing();
    return Buffer.from(hkdfSync('sha256', current.key, Buffer.alloc(0), `care360 ${purpose}`, KEY_BYTES));
  }

  /** The id of the key that seals new values. */
  async currentKeyId(): Promise<string> {
    return (await this.resolveRing()).current.id;
  }

  /** Seals a value under the current key and a fresh IV. */
  private async seal(
    plaintext: Buffer | string,
  ): Promise<{ keyId: string; iv: Buffer; tag: Buffer; ciphertext: Buffer }> {
    const { current } = await this.resolveRing();
    const iv = nextIv();
    const cipher = createCipheriv(ALGORITHM, current.key, iv);
    const head = typeof plaintext === 'string' ? cipher.update(plaintext, 'utf8') : cipher.update(plaintext);
    const tail = cipher.final(); // nothing more for GCM (a stream mode), but it must end before the tag is read
    const ciphertext = tail.length === 0 ? head : Buffer.concat([head, tail]);
    return { keyId: current.id, iv, tag: cipher.getAuthTag(), ciphertext };
  }

  async encryptBytes(plaintext: Buffer): Promise<Buffer> {
    const { keyId, iv, tag, ciphertext } = await this.seal(plaintext);
    return Buffer.concat([BYTES_MAGIC, Buffer.from(keyId, 'base64url'), iv, tag, ciphertext]);
  }

  async decryptBytes(sealed: Buffer): Promise<Buffer> {
    const ring = await this.resolveRing();
    let keyId: string | undefined;
    if (sealed.length >= BYTES_HEADER + IV_BYTES + TAG_BYTES && sealed.subarray(0, 4).equals(BYTES_MAGIC)) {
      keyId = sealed.subarray(4, BYTES_HEADER).toString('base64url');
      const key = ring.byId.get(keyId);
      const opened = key && tryOpen(key, sealed.subarray(BYTES_HEADER));
      if (opened) return opened;
    }
    // Sealed before keys had ids (one whose random IV began with the magic bytes included): any key of the ring.
    for (const key of ring.byId.values()) {
      const opened = tryOpen(key, sealed);
      if (opened) return opened;
    }
    throw keyId && !ring.byId.has(keyId) ? unknownKeyError(keyId) : new PhiKeyError('PHI value could not be opened');
  }

  async encryptText(plaintext: string): Promise<string> {
    const { keyId, iv, tag, ciphertext } = await this.seal(plaintext);
    return `${TEXT_VERSION}.${keyId}.${iv.toString('base64')}.${tag.toString('base64')}.${ciphertext.toString('base64')}`;
  }

  async decryptText(sealed: string): Promise<string> {
    const parts = sealed.split('.');
    const ring = await this.resolveRing();
    if (parts[0] === TEXT_VERSION && parts.length === 5) {
      const key = ring.byId.get(parts[1]!);
      if (!key) throw unknownKeyError(parts[1]!);
      const opened = tryOpen(key, fromBase64Parts(parts.slice(2)));
      if (!opened) throw new PhiKeyError('PHI value could not be opened');
      return opened.toString('utf8');
    }
    if (parts[0] === LEGACY_TEXT_VERSION && parts.length === 4) {
      const bytes = fromBase64Parts(parts.slice(1));
      for (const key of ring.byId.values()) {
        const opened = tryOpen(key, bytes);
        if (opened) return opened.toString('utf8');
      }
      throw new PhiKeyError('PHI value could not be opened with any key of this process');
    }
    throw new PhiKeyError('Unrecognized PHI ciphertext format');
  }

  /** The text prefix of every value sealed under the current key (for `phi rotate`: what needs no work). */
  async currentTextPrefix(): Promise<string> {
    return `${TEXT_VERSION}.${await this.currentKeyId()}.`;
  }

  /** The first bytes of every byte value sealed under the current key. */
  async currentBytesHeader(): Promise<Buffer> {
    return Buffer.concat([BYTES_MAGIC, Buffer.from(await this.currentKeyId(), 'base64url')]);
  }
}

function fromBase64Parts(parts: string[]): Buffer {
  return Buffer.concat(parts.map((part) => Buffer.from(part, 'base64')));
}

/** `iv | tag | ciphertext` opened with `key`, or undefined when the key does not authenticate it. */
function tryOpen(key: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < IV_BYTES + TAG_BYTES) return undefined;
  const decipher = createDecipheriv(ALGORITHM, key, sealed.subarray(0, IV_BYTES));
  decipher.setAuthTag(sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}

const unknownKeyError = (keyId: string) =>
  new PhiKeyError(
    `PHI value sealed under key ${keyId}, which is not among this process's keys (PHI_ENCRYPTION_OLD_KEYS)`,
  );

const KEY_REQUIRED =
  'PHI_ENCRYPTION_KEY is required with DATABASE_URL (every server of the database needs the same key): ' +
  MAKE_KEY_HINT;

/** A server on PostgreSQL refuses to start without a key, before it connects (phiCipherFor says why). */
export function requirePhiKeyFor(config: {
  databaseUrl: string | undefined;
  intake: { phiEncryptionKey: string | undefined };
}): void {
  if (config.databaseUrl && !config.intake.phiEncryptionKey) throw new PhiKeyError(KEY_REQUIRED);
}

/**
 * The PHI cipher a process uses. PHI_ENCRYPTION_KEY (and PHI_ENCRYPTION_OLD_KEYS) when set; otherwise a
 * per-process random key for an in-memory database (tests: nothing encrypted outlives the process), the key
 * file DATA_DIR/phi.key for the embedded database, and none on PostgreSQL: every server of a database needs
 * the same key, so it must be given, and a server refuses to start without it (verifyPhiKey).
 */
export function phiCipherFor(options: {
  configuredKey: string | undefined;
  oldKeys?: readonly string[];
  dataDir: string;
  engine: 'pglite' | 'postgres';
  inMemory: boolean;
}): PhiCipher {
  const oldKeys = (options.oldKeys ?? []).map(parsePhiKey);
  if (options.configuredKey) return new PhiCipher({ key: parsePhiKey(options.configuredKey), oldKeys });
  if (options.inMemory) return PhiCipher.ephemeral();
  if (options.engine === 'postgres') {
    return new PhiCipher({ missing: KEY_REQUIRED });
  }
  return new PhiCipher({ keyFile: path.resolve(options.dataDir, 'phi.key'), oldKeys });
}
