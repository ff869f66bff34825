import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { keyIdOf, PhiCipher, PhiKeyError } from '../../src/crypto/phi.ts';

/** A value sealed as care360 sealed them before keys had ids: `iv | tag | ciphertext`, text `v1.<iv>.<tag>.<ct>`. */
function legacySeal(key: Buffer, plaintext: Buffer, iv = randomBytes(12)): { bytes: Buffer; text: string } {
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const tag = cipher.getAuthTag();
  return {
    bytes: Buffer.concat([iv, tag, ciphertext]),
    text: `v1.${iv.toString('base64')}.${tag.toString('base64')}.${ciphertext.toString('base64')}`,
  };
}

describe('PHI cipher', () => {
  it('seals every value with its own IV, across refills of the IV pool, and opens each one', async () => {
    const key = randomBytes(32);
    const cipher = new PhiCipher({ key });
    const ivs = new Set<string>();
    const count = 1_000; // the pool holds 256 IVs: this spans several refills
    for (let index = 0; index < count; index++) {
      const sealed = await cipher.encryptText('same plaintext');
      const [version, keyId, iv, tag, ciphertext] = sealed.split('.');
      assert.equal(version, 'v2');
      assert.equal(keyId, keyIdOf(key));
      assert.equal(Buffer.from(iv!, 'base64').length, 12);
      assert.equal(Buffer.from(tag!, 'base64').length, 16);
      assert.ok(ciphertext);
      ivs.add(iv!);
      assert.equal(await cipher.decryptText(sealed), 'same plaintext');
    }
    assert.equal(ivs.size, count);
  });

  it('opens text in any script, and bytes, as sealed; both are standard AES-256-GCM after a key id', async () => {
    const key = randomBytes(32);
    const cipher = new PhiCipher({ key });
    for (const text of ['', 'naïve "quoted" \\ 😀 日本語', 'x'.repeat(100_000)]) {
      const sealed = await cipher.encryptText(text);
      assert.equal(await cipher.decryptText(sealed), text);
      const [, , iv, tag, ciphertext] = sealed.split('.').map((part) => Buffer.from(part, 'base64'));
      const decipher = createDecipheriv('aes-256-gcm', key, iv!);
      decipher.setAuthTag(tag!);
      assert.equal(Buffer.concat([decipher.update(ciphertext!), decipher.final()]).toString('utf8'), text);
    }
    const bytes = randomBytes(70_000);
    const sealed = await cipher.encryptBytes(bytes);
    assert.deepEqual(await cipher.decryptBytes(sealed), bytes);
    // "C36" 0x02, the key id (12 bytes), then iv | tag | ciphertext.
    assert.deepEqual(sealed.subarray(0, 4), Buffer.from([0x43, 0x33, 0x36, 0x02]));
    assert.equal(sealed.subarray(4, 16).toString('base64url'), keyIdOf(key));
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(16, 28));
    decipher.setAuthTag(sealed.subarray(28, 44));
    assert.deepEqual(Buffer.concat([decipher.update(sealed.subarray(44)), decipher.final()]), bytes);
  });

  it('refuses a value whose ciphertext was changed', async () => {
    const cipher = PhiCipher.ephemeral();
    const sealed = await cipher.encryptBytes(Buffer.from('allergic to penicillin'));
    sealed[sealed.length - 1]! ^= 1;
    await assert.rejects(cipher.decryptBytes(sealed));
    const text = await cipher.encryptText('allergic to penicillin');
    const parts = text.split('.');
    parts[4] = (parts[4]!.startsWith('A') ? 'B' : 'A') + parts[4]!.slice(1); // the ciphertext's first bits
    await assert.rejects(cipher.decryptText(parts.join('.')));
  });

  it('seals under the current key and opens values of old keys, and values sealed before keys had ids', async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = new PhiCipher({ key: oldKey });
    const sealedText = await before.encryptText('"hypertension"');
    const sealedBytes = await before.encryptBytes(Buffer.from('scan'));
    const legacy = legacySeal(oldKey, Buffer.from('"asthma"'));
    // A legacy value whose random IV begins with the magic bytes of the new format still opens.
    const lookalike = legacySeal(
      oldKey,
      Buffer.from('id card'),
      Buffer.from([0x43, 0x33, 0x36, 0x02, ...randomBytes(8)]),
    );

    const rotated = new PhiCipher({ key: newKey, oldKeys: [oldKey] });
    assert.equal(await rotated.currentKeyId(), keyIdOf(newKey));
    assert.equal(await rotated.decryptText(sealedText), '"hypertension"');
    assert.deepEqual(await rotated.decryptBytes(sealedBytes), Buffer.from('scan'));
    assert.equal(await rotated.decryptText(legacy.text), '"asthma"');
    assert.deepEqual(await rotated.decryptBytes(legacy.bytes), Buffer.from('"asthma"'));
    assert.deepEqual(await rotated.decryptBytes(lookalike.bytes), Buffer.from('id card'));
    assert.match(await rotated.encryptText('x'), new RegExp(`^v2\\.${keyIdOf(newKey)}\\.`));

    // Without the old key: a clear error naming the key the value needs.
    const newOnly = new PhiCipher({ key: newKey });
    await assert.rejects(newOnly.decryptText(sealedText), (error: Error) => {
      assert.ok(error instanceof PhiKeyError);
      assert.match(error.message, new RegExp(`key ${keyIdOf(oldKey)}`));
      return true;
    });
    await assert.rejects(newOnly.decryptBytes(sealedBytes), new RegExp(keyIdOf(oldKey)));
    await assert.rejects(newOnly.decryptText(legacy.text), PhiKeyError);
  });

  it('names a key by an id that does not reveal it and is stable', () => {
    const key = Buffer.alloc(32, 7);
    assert.equal(keyIdOf(key), keyIdOf(Buffer.alloc(32, 7)));
    assert.match(keyIdOf(key), /^[A-Za-z0-9_-]{16}$/);
    assert.notEqual(keyIdOf(key), keyIdOf(Buffer.alloc(32, 8)));
  });

  it('raises the configured error on any use when no key is given (PostgreSQL without PHI_ENCRYPTION_KEY)', async () => {
    const cipher = new PhiCipher({ missing: 'PHI_ENCRYPTION_KEY is required' });
    await assert.rejects(cipher.encryptText('x'), /PHI_ENCRYPTION_KEY is required/);
  });
});
