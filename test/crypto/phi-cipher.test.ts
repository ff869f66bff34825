import assert from 'node:assert/strict';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { PhiCipher } from '../../src/crypto/phi.ts';

describe('PHI cipher', () => {
  it('seals every value with its own IV, across refills of the IV pool, and opens each one', async () => {
    const cipher = PhiCipher.ephemeral();
    const ivs = new Set<string>();
    const count = 1_000; // the pool holds 256 IVs: this spans several refills
    for (let index = 0; index < count; index++) {
      const sealed = await cipher.encryptText('same plaintext');
      const [version, iv, tag, ciphertext] = sealed.split('.');
      assert.equal(version, 'v1');
      assert.equal(Buffer.from(iv!, 'base64').length, 12);
      assert.equal(Buffer.from(tag!, 'base64').length, 16);
      assert.ok(ciphertext);
      ivs.add(iv!);
      assert.equal(await cipher.decryptText(sealed), 'same plaintext');
    }
    assert.equal(ivs.size, count);
  });

  it('opens text in any script, and bytes, as sealed; the text form is the binary form in base64 parts', async () => {
    const key = randomBytes(32);
    const cipher = new PhiCipher({ key });
    for (const text of ['', 'naïve "quoted" \\ 😀 日本語', 'x'.repeat(100_000)]) {
      const sealed = await cipher.encryptText(text);
      assert.equal(await cipher.decryptText(sealed), text);
      // The same value in binary form (iv | tag | ciphertext) opens with the standard AES-256-GCM.
      const [, iv, tag, ciphertext] = sealed.split('.').map((part) => Buffer.from(part, 'base64'));
      const decipher = createDecipheriv('aes-256-gcm', key, iv!);
      decipher.setAuthTag(tag!);
      assert.equal(Buffer.concat([decipher.update(ciphertext!), decipher.final()]).toString('utf8'), text);
    }
    const bytes = randomBytes(70_000);
    assert.deepEqual(await cipher.decryptBytes(await cipher.encryptBytes(bytes)), bytes);
  });

  it('refuses a value whose ciphertext was changed', async () => {
    const cipher = PhiCipher.ephemeral();
    const sealed = await cipher.encryptBytes(Buffer.from('allergic to penicillin'));
    sealed[sealed.length - 1]! ^= 1;
    await assert.rejects(cipher.decryptBytes(sealed));
  });
});
