import { z } from 'zod';
import { ADMIN_SECURITY } from '../../http/admin.ts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { PhiCipher } from '../../crypto/phi.ts';
import type { Database } from '../../db/database.ts';
import { listPhiKeys, rotatePhiStep, SEALED_TEXT_TABLES } from './rotation.ts';
import { errorResponses } from '../../http/envelopes.ts';

const routeConfig = { auth: 'admin', envelope: 'standard' } as const;
const security = ADMIN_SECURITY;

/** Where the previous step stopped: sealed texts go by row id (a UUID), file contents by storage key. */
const cursorSchema = z.discriminatedUnion('table', [
  z.object({
    table: z.enum(SEALED_TEXT_TABLES),
    after: z.uuid(),
  }),
  z.object({ table: z.literal('file_contents'), after: z.string().max(200) }),
]);

/**
 * PHI key rotation through a running server (`npm run cli -- phi rotate` uses it when the server holds the
 * embedded database). Each call works for a bounded time, well inside the request time limit, and returns the
 * cursor to send back until `done`.
 */
export function adminPhiKeyRoutes(db: Database, cipher: PhiCipher, requestTimeoutMs: number): FastifyPluginAsyncZod {
  const timeBudgetMs = Math.min(5_000, Math.floor(requestTimeoutMs / 4));
  return async (app) => {
    app.get(
      '/phi/keys',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: "The PHI keys: this server's current and old key ids, and the keys the database records",
          description:
            'Key ids only, never keys: which key seals new PHI, which old keys this server can still open, and the keys the database has recorded with when each was retired.',
          security,
          response: {
            200: z.object({
              currentKeyId: z.string(),
              oldKeyIds: z.array(z.string()),
              database: z.array(z.object({ id: z.string(), createdAt: z.string(), retiredAt: z.string().nullable() })),
            }),
            ...errorResponses('standard', [401, 403]),
          },
        },
      },
      async () => {
        const { currentKeyId, oldKeyIds } = await cipher.describe();
        return { currentKeyId, oldKeyIds, database: await listPhiKeys(db) };
      },
    );

    app.post(
      '/phi/rotate',
      {
        config: routeConfig,
        schema: {
          tags: ['admin'],
          summary: 'Seal PHI under the current key again, one bounded step at a time',
          description:
            'Re-seals PHI (answers, files, comments, webhook secrets and bodies) sealed with an old key for a bounded time, and answers a cursor to send back until `done`; then the old key can be retired.',
          security,
          body: z
            .object({
              cursor: cursorSchema.nullish().describe('The cursor of the previous step; none to start'),
              batchSize: z.number().int().min(1).max(5000).optional(),
            })
            .optional(),
          response: {
            200: z.object({
              done: z.boolean(),
              cursor: cursorSchema.nullable(),
              answers: z.number(),
              comments: z.number(),
              webhookSecrets: z.number(),
              webhookBodies: z.number(),
              gatewayCredentials: z.number(),
              profiles: z.number(),
              staffSecrets: z.number(),
              files: z.number(),
              remaining: z.number().optional(),
              retiredKeyIds: z.array(z.string()).optional(),
            }),
            ...errorResponses('standard', [400, 401, 403]),
          },
        },
      },
      async (request) =>
        rotatePhiStep(db, cipher, {
          cursor: request.body?.cursor ?? null,
          batchSize: request.body?.batchSize,
          timeBudgetMs,
        }),
    );
  };
}
