import { readFileSync } from 'node:fs';
import { projectPath } from './paths.ts';

const packageJson = JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as {
  version: string;
};

export const version: string = packageJson.version;
