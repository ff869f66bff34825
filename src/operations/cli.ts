import type { Command } from 'commander';
import { loadConfig } from '../config.ts';
import { backup, restore } from './backup.ts';

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
}
