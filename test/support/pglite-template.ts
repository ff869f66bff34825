import { writeFile } from 'node:fs/promises';
import { openDatabase } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';

/**
 * A migrated in-memory PGlite as a tarball: the start of every test file's fresh database on the embedded
 * engine (test/support/database.ts). Opening a tarball skips initdb, the most of a new PGlite's cost, and the
 * migrations ran once for the whole run instead of once per database (README, Test).
 */
export async function migratedPgliteTarball(): Promise<Blob> {
  const db = await openDatabase({ engine: 'pglite' });
  try {
    await migrate(db);
    return await db.dumpDataDir!();
  } finally {
    await db.close();
  }
}

// `node --import tsx test/support/pglite-template.ts <file>`: written once per run by scripts/run-tests.mjs.
if (import.meta.url === `file://${process.argv[1]}`) {
  const target = process.argv[2];
  if (!target) throw new Error('usage: pglite-template.ts <file>');
  const tarball = await migratedPgliteTarball();
  await writeFile(target, Buffer.from(await tarball.arrayBuffer()));
}
