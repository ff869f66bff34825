import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import { projectPath, projectRoot } from '../../src/paths.ts';

let bundle: Promise<string> | undefined;

/**
 * The operator CLI (src/cli.ts) bundled as the server is (scripts/build.ts: packages stay imports), once per test
 * file, for tests that run it many times: a process of the bundle costs a third of the CPU of one under tsx,
 * which loads and transforms every module of src/ in each process. Inside dist/, so the project root (package.json,
 * migrations) is found from it as from the server's bundle; written beside its name and renamed into place, so a
 * test file starting it while another rebuilds never reads half a file.
 */
export function cliBundle(): Promise<string> {
  bundle ??= (async () => {
    const file = projectPath('dist', 'test-cli.mjs');
    const result = await build({
      absWorkingDir: projectRoot,
      entryPoints: ['src/cli.ts'],
      outfile: file,
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      legalComments: 'none',
      logLevel: 'warning',
      write: false,
    });
    await mkdir(path.dirname(file), { recursive: true });
    const staging = `${file}.${process.pid}.tmp`;
    await writeFile(staging, result.outputFiles[0]!.contents);
    await rename(staging, file);
    return file;
  })();
  return bundle;
}
