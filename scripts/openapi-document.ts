/**
 * The OpenAPI document of the server as this source builds it, for tools that read it from a file: the linter
 * (`npm run lint:openapi`) and the client's type generator (packages/client). The app is built on an empty
 * in-memory database that is never queried; no server is started.
 *
 *   node --import tsx scripts/openapi-document.ts [output.json]   (default: stdout)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/database.ts';

/** The document /openapi.json serves, with the operator API (as a server with ADMIN_TOKEN set serves it). */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const db = await openDatabase({ engine: 'pglite' });
  try {
    const config = loadConfig({ ADMIN_TOKEN: 'openapi-document', LOG_LEVEL: 'silent' });
    const app = await buildApp({ config, db, logger: false });
    try {
      await app.ready();
      return app.swagger() as unknown as Record<string, unknown>;
    } finally {
      await app.close();
    }
  } finally {
    await db.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = `${JSON.stringify(await openApiDocument(), null, 2)}\n`;
  const output = process.argv[2];
  if (output) {
    await mkdir(path.dirname(output), { recursive: true });
    await writeFile(output, text);
  } else process.stdout.write(text);
}
