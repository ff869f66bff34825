import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

/** The Redis the limits tests share counters through (127.0.0.1:6379 on developer machines and CI). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test run uses, and a cleanup that deletes every key under it. */
export function uniqueRedisPrefix(): { prefix: string; cleanup: () => Promise<void> } {
  const prefix = `care360-test:${randomBytes(6).toString('hex')}:`;
  return {
    prefix,
    async cleanup() {
      const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
      await redis.connect();
      try {
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
          if (keys.length > 0) await redis.del(...keys);
          cursor = next;
        } while (cursor !== '0');
      } finally {
        await redis.quit();
      }
    },
  };
}

/** Keys under a prefix, to show that counters really live in Redis. */
export async function keysUnder(prefix: string): Promise<string[]> {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
  await redis.connect();
  try {
    return await redis.keys(`${prefix}*`);
  } finally {
    await redis.quit();
  }
}
