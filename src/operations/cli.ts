import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { backup, restore } from './backup.ts';
import { moveToPostgres } from './move-to-postgres.ts';

/** Operator commands for backups and the move to PostgreSQL (docs/operations.md). */
export function registerOperationCommands(program: Command, print: (value: unknown) => void): void {
  program
    .command('backup')
    .argument('<file>', 'the backup file to write (a new file)')
    .option('--server <url>', 'the running server to take it through (default: http://127.0.0.1:PORT)')
    .description(
      'back up the embedded database: through the running server (ADMIN_TOKEN) when one runs, else from DATA_DIR; ' +
        'never holds the PHI key',
    )
    .action(async (file: string, options: { server?: string }) => print(await backup(loadConfig(), file, options)));

  program
    .command('restore')
    .argument('<file>', 'a backup written by the backup command')
    .option('--force', 'move a database already in DATA_DIR aside (renamed, never deleted)')
    .option('--server <url>', 'where a running server would answer (default: http://127.0.0.1:PORT)')
    .description('restore a backup into DATA_DIR (the server stopped; the PHI key in place)')
    .action(async (file: string, options: { force?: boolean; server?: string }) =>
      print(await restore(loadConfig(), file, options)),
    );

  program
    .command('move-to-postgres')
    .argument('<databaseUrl>', 'an empty PostgreSQL database: postgres://user:password@host:5432/name')
    .option('--server <url>', 'where a running server would answer (default: http://127.0.0.1:PORT)')
    .description(
      'copy the embedded database (DATA_DIR, the server stopped) into an empty PostgreSQL database, verify every ' +
        'table and the PHI, and print the settings to start on it',
    )
    .action(async (databaseUrl: string, options: { server?: string }) => {
      const log = (line: string) => void process.stderr.write(`${line}\n`);
      log('Copying the embedded database into PostgreSQL, in one transaction (nothing is kept if a check fails):');
      const report = await moveToPostgres(loadConfig(), databaseUrl, { ...options, log });
      print(report);
      log(
        `\nDone in ${report.seconds} s. To start on PostgreSQL, set in every server's environment:\n` +
          `  DATABASE_URL=<the URL you gave: ${report.settings.DATABASE_URL}>\n` +
          `  PHI_ENCRYPTION_KEY=${report.settings.PHI_ENCRYPTION_KEY}\n` +
          'Keep DATA_DIR and this key until the servers run on PostgreSQL (docs/operations.md).',
      );
    });
}
