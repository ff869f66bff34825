// Creates a new PGlite data directory (initdb) and exits: `node src/db/pglite-init.mjs <directory>`.
// Run in a child process by src/db/database.ts so that initdb's memory (several hundred MB of WASM
// heap, which a process does not give back) is never part of the server's.
import { PGlite } from '@electric-sql/pglite';

const directory = process.argv[2];
if (!directory) {
  console.error('usage: node src/db/pglite-init.mjs <directory>');
  process.exit(2);
}
const db = await PGlite.create(directory);
await db.close();
