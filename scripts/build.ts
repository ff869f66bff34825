/**
 * Compiles the server for `npm start`: src/server.ts and everything it imports from src/, bundled by
 * esbuild into dist/server.mjs (packages in node_modules stay imports), and the memory settings the
 * launcher (bin/care360.mjs) reads into dist/memory-settings.mjs. Running compiled JavaScript
 * instead of `node --import tsx` keeps tsx's loader thread and transform caches out of the server's memory.
 * It also bundles the web console (console/, React) into dist/console/app.js and app.css, which the server serves
 * at /console. It is quick enough for `npm start` to run it every time (`prestart`), so neither bundle lags the source.
 *
 *   node --import tsx scripts/build.ts
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip } from 'node:zlib';
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
  await writeOutputs(result.outputFiles);
  return serverBundle;
}

/** Writes the files of one esbuild result, each renamed into place (see buildServer). */
async function writeOutputs(files: { path: string; contents: Uint8Array }[]): Promise<void> {
  for (const file of files) {
    await mkdir(path.dirname(file.path), { recursive: true });
    const staging = `${file.path}.${process.pid}.tmp`;
    await writeFile(staging, file.contents);
    await rename(staging, file.path);
  }
}

/**
 * Writes dist/console/app.js and app.css, with their .br and .gz forms: the console (console/src/main.tsx) with
 * React, Mantine's stylesheet and everything else it imports, minified for browsers, so nothing comes from a CDN.
 * Type errors are `npm run typecheck`'s (console/tsconfig.json); esbuild only strips the types.
 */
export async function buildConsole(): Promise<string> {
  const outdir = projectPath('dist', 'console');
  const result = await build({
    absWorkingDir: projectRoot,
    entryPoints: { app: 'console/src/main.tsx' },
    outdir,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: ['chrome120', 'firefox120', 'safari17'],
    jsx: 'automatic',
    minify: true,
    define: { 'process.env.NODE_ENV': '"production"' },
    legalComments: 'none',
    logLevel: 'warning',
    write: false,
  });
  // Compressed once here, so the server sends the browser a third of the bytes without compressing per request.
  const compressed = await Promise.all(
    result.outputFiles
      .filter((file) => /\.(js|css)$/.test(file.path))
      .flatMap((file) => [
        promisify(brotliCompress)(file.contents, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9 } }).then((contents) => ({
          path: `${file.path}.br`,
          contents,
        })),
        promisify(gzip)(file.contents, { level: 9 }).then((contents) => ({ path: `${file.path}.gz`, contents })),
      ]),
  );
  await writeOutputs([...result.outputFiles, ...compressed]);
  return outdir;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await Promise.all([buildServer(), buildConsole()]);
}
