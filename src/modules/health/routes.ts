import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Database } from '../../db/database.ts';

export function healthRoutes(db: Database): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/health',
      {
        schema: {
          tags: ['operations'],
          summary: 'The process is up',
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
          summary: 'The database answers',
          response: {
            200: z.object({ status: z.literal('ready'), database: z.enum(['pglite', 'postgres']) }),
            503: z.object({ status: z.literal('unavailable'), database: z.enum(['pglite', 'postgres']) }),
          },
        },
      },
      async (_request, reply) => {
        try {
          await db.query('select 1');
          return { status: 'ready' as const, database: db.engine };
        } catch {
          return reply.code(503).send({ status: 'unavailable' as const, database: db.engine });
        }
      },
    );
  };
}
