import type { Command } from 'commander';
import type { Config } from '../../config.ts';
import { verifyPhiKey } from '../../crypto/phi-key-check.ts';
import { newPhiKey } from '../../crypto/phi.ts';
import { DataDirInUseError } from '../../db/data-dir-lock.ts';
import type { Database } from '../../db/database.ts';
import type { Services } from '../../services.ts';
import { listPhiKeys, noneResealed, rotatePhiStep, type RotationCursor, type RotationStep } from './rotation.ts';

type Print = (value: unknown) => void;
/** Opens the configured database with the services; throws DataDirInUseError when a server holds it. */
type WithDatabase = (work: (services: Services, db: Database) => Promise<void>) => Promise<void>;

/**
 * `phi new-key`, `phi keys`, `phi rotate`. On the embedded database, while a server holds the data folder,
 * `keys` and `rotate` work through that server's operator API (with ADMIN_TOKEN), so rotating needs no downtime.
 */
export function registerPhiKeyCommands(
  program: Command,
  options: { loadConfig: () => Config; withDatabase: WithDatabase; print: Print },
): void {
  const { loadConfig, withDatabase, print } = options;
  const phi = program.command('phi').description('PHI encryption keys');

  phi
    .command('new-key')
    .description('print a new random PHI encryption key (base64), for PHI_ENCRYPTION_KEY')
    .action(() => void process.stdout.write(`${newPhiKey()}\n`));

  phi
    .command('keys')
    .description("this process's key ids (current and old) and the keys the database records")
    .action(async () => {
      try {
        await withDatabase(async (services, db) => {
          const { currentKeyId, oldKeyIds } = await services.phiCipher.describe();
          print({ currentKeyId, oldKeyIds, database: await listPhiKeys(db) });
        });
      } catch (error) {
        if (!(error instanceof DataDirInUseError)) throw error;
        print(await throughServer(error, loadConfig(), 'GET', '/admin/v1/phi/keys'));
      }
    });

  phi
    .command('rotate')
    .option('--batch-size <rows>', 'answers per batch', '500')
    .description('seal every PHI value and webhook secret again under the current key, in batches, while servers serve')
    .action(async (flags: { batchSize: string }) => {
      const batchSize = Number(flags.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 5000) {
        throw new Error('--batch-size must be a whole number from 1 to 5000');
      }
      let result: RotationStep | undefined;
      try {
        await withDatabase(async (services, db) => {
          // Its keys must open everything the database holds, and its current key is recorded as in use.
          await verifyPhiKey(db, services.phiCipher);
          result = await rotateAll((cursor) => rotatePhiStep(db, services.phiCipher, { cursor, batchSize }));
        });
      } catch (error) {
        if (!(error instanceof DataDirInUseError)) throw error;
        const config = loadConfig();
        result = await rotateAll(
          (cursor) =>
            throughServer(error, config, 'POST', '/admin/v1/phi/rotate', {
              cursor,
              batchSize,
            }) as Promise<RotationStep>,
        );
      }
      print(result);
      if (result?.remaining) {
        process.stderr.write(
          `${result.remaining} values are still sealed under an older key: a server still seals with it. Start ` +
            'every server with the new PHI_ENCRYPTION_KEY, then run `phi rotate` again.\n',
        );
        process.exitCode = 1;
      }
    });
}

/** Runs steps until done, printing progress to stderr; the totals of every step. */
async function rotateAll(step: (cursor: RotationCursor | null) => Promise<RotationStep>): Promise<RotationStep> {
  let cursor: RotationCursor | null = null;
  const total = noneResealed();
  for (;;) {
    const result = await step(cursor);
    for (const count of Object.keys(total) as (keyof typeof total)[]) total[count] += result[count];
    if (result.done) return { ...result, ...total };
    cursor = result.cursor;
    const counts = Object.entries(total).map(([kind, count]) => `${count} ${kind}`);
    process.stderr.write(`phi rotate: sealed again so far: ${counts.join(', ')}\n`);
  }
}

/** A call to the operator API of the server that holds the data folder; refused with what to do otherwise. */
async function throughServer(
  inUse: DataDirInUseError,
  config: Config,
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
): Promise<unknown> {
  const { url } = inUse.holder;
  if (!url || !config.adminToken) {
    throw new Error(
      `${inUse.message.replace(/ Stop that process.*$/, '')} This command works through the running server's ` +
        `operator API: ${url ? 'set ADMIN_TOKEN to its admin token' : 'start the server with ADMIN_TOKEN set'}, ` +
        'or stop the server and run it again.',
    );
  }
  const response = await fetch(new URL(route, url), {
    method,
    headers: {
      authorization: `Bearer ${config.adminToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    throw new Error(
      `The server at ${url} answered ${response.status} to ${method} ${route}: ${JSON.stringify(answer)}`,
    );
  }
  return answer;
}
