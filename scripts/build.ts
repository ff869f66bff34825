/**
 * Compiles the server for `npm start`: src/server.ts and everything it imports from src/, bundled by
 * esbuild into dist/server.mjs (packages in node_modules stay imports), and the memory settings the
 * launcher (bin/care360.mjs) reads into dist/memory-settings.mjs. Running compiled JavaScript
 * instead of `node --import tsx` keeps tsx's loader thread and transform caches out of the server's memory.
 * It is quick enough for `npm start` to run it every time (`prestart`), so the bundle never lags the source.
 *
 *   node --import tsx scripts/build.ts
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { projectPath, projectRoot } from '../src/paths.ts';

/** The bundle the launcher runs. */
const serverBundle = projectPath('dist', 'server.mjs');

/** What `npm start` runs: it starts the bundle with its engine's memory settings. */
export const launcher = projectPath('bin', 'care360.mjs');

/**
 * Writes dist/server.mjs, dist/memory-settings.mjs and their source maps. Each file is written beside its final name and renamed into
 * place, so a server starting while another process rebuilds (parallel test files) never reads half a file.
 */
export async function buildServer(): Promise<string> {
  const result = await build({
    absWorkingDir: projectRoot,
    entryPoints: ['src/server.ts', 'src/memory-settings.ts'],
    outdir: path.dirname(serverBundle),
    outExtension: { '.js': '.mjs' },
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked', // used with NODE_OPTIONS=--enable-source-maps
    legalComments: 'none',
    logLevel: 'warning',
    write: false,
  });
  await mkdir(path.dirname(serverBundle), { recursive: true });
  for (const file of result.outputFiles) {
    const staging = `${file.path}.${process.pid}.tmp`;
    await writeFile(staging, file.contents);
    await rename(staging, file.path);
  }
  return serverBundle;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildServer();
}
