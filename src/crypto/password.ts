import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Patient passwords are stored only as a slow, salted scrypt hash:
 * `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>`. The parameters travel with the hash so they can be
 * raised later without invalidating stored ones.
 */
const COST = 2 ** 15;
const BLOCK_SIZE = 8;
const PARALLELIZATION = 1;
const SALT_BYTES = 16;
const HASH_BYTES = 32;
const MAX_MEMORY = 128 * 1024 * 1024;

function derive(password: string, salt: Buffer, options: ScryptOptions, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, length, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const options = { N: COST, r: BLOCK_SIZE, p: PARALLELIZATION, maxmem: MAX_MEMORY };
  const hash = await derive(password, salt, options, HASH_BYTES);
  return ['scrypt', COST, BLOCK_SIZE, PARALLELIZATION, salt.toString('base64'), hash.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, cost, blockSize, parallelization, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !cost || !blockSize || !parallelization || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const options = { N: Number(cost), r: Number(blockSize), p: Number(parallelization), maxmem: MAX_MEMORY };
  const actual = await derive(password, Buffer.from(salt, 'base64'), options, expected.length);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
