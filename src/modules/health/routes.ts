import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Database } from '../../db/database.ts';
import type { RedisCircuit } from '../../http/redis-circuit.ts';

/**
 * Where the rate limits and failed authentications are counted now: `redis` (shared by every process) or
 * `memory` (this process only), and, when REDIS_URL is set, whether Redis answers.
 */
const countersSchema = {
  counters: z.enum(['redis', 'memory']),
  redis: z.enum(['available', 'unavailable']).optional(),
};

export function healthRoutes(db: Database, redis?: RedisCircuit): FastifyPluginAsyncZod {
  const counters = () => {
    if (!redis) return { counters: 'memory' as const };
    return redis.available
      ? { counters: 'redis' as const, redis: 'available' as const }
      : { counters: 'memory' as const, redis: 'unavailable' as const };
  };

  return async (app) => {
    app.get(
      '/health',
      {
        schema: {
          tags: ['operations'],
          summary: 'The process is up',
          description:
            'Answers 200 while the process runs, without touching the database: a liveness probe. It needs no key.',
          response: { 200: z.object({ status: z.literal('ok') }) },
        },
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/ready',
      {
        schema: {
          tags: ['operations'],
          summary: 'The database answers; where the rate limits are counted',
          description:
            "Answers 200 when the database answers a query, 503 when it does not, with the engine and where the rate limits are counted. A readiness probe for a load balancer or a container's HEALTHCHECK. It needs no key.",
          response: {
            200: z.object({ status: z.literal('ready'), database: z.enum(['pglite', 'postgres']), ...countersSchema }),
            503: z
              .object({
                status: z.literal('unavailable'),
                database: z.enum(['pglite', 'postgres']),
                ...countersSchema,
              })
              .describe('The database does not answer'),
          },
        },
      },
      async (_request, reply) => {
        try {
          await db.query('select 1');
          return { status: 'ready' as const, database: db.engine, ...counters() };
        } catch {
          return reply.code(503).send({ status: 'unavailable' as const, database: db.engine, ...counters() });
        }
      },
    );
  };
}
