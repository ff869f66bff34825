import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project's root folder: the nearest one above this module that holds package.json. From source that
 * is src/.., and from the bundle `npm start` runs (dist/server.mjs) it is dist/.., so files that ship
 * beside the code (migrations, package.json) are found the same way by both.
 */
function findProjectRoot(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(directory, 'package.json'))) {
    const parent = path.dirname(directory);
    if (parent === directory) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    directory = parent;
  }
  return directory;
}

export const projectRoot: string = findProjectRoot();

/** A path inside the project, from its root: `projectPath('src', 'db', 'migrations')`. */
export function projectPath(...segments: string[]): string {
  return path.join(projectRoot, ...segments);
}
