// Fails when an installed package's `engines.node` excludes a Node.js line this project supports.
// The project promises Node 20 (end of life, still on many machines) and Node 24 LTS (recommended).
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';

const supported = ['20.19.0', '24.0.0'];
const problems = [];
let checked = 0;

function visit(modulesDirectory) {
  if (!existsSync(modulesDirectory)) return;
  for (const entry of readdirSync(modulesDirectory)) {
    if (entry.startsWith('.')) continue;
    const full = path.join(modulesDirectory, entry);
    if (entry.startsWith('@')) {
      for (const scoped of readdirSync(full)) inspect(path.join(full, scoped));
    } else {
      inspect(full);
    }
  }
}

function inspect(packageDirectory) {
  const manifestPath = path.join(packageDirectory, 'package.json');
  if (!existsSync(manifestPath)) return;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  checked += 1;
  const range = manifest.engines?.node;
  if (range && semver.validRange(range)) {
    for (const version of supported) {
      if (!semver.satisfies(version, range))
        problems.push(`${manifest.name}@${manifest.version} engines.node "${range}" excludes ${version}`);
    }
  }
  visit(path.join(packageDirectory, 'node_modules'));
}

visit('node_modules');
if (problems.length > 0) {
  console.error(`Packages that exclude a supported Node.js version:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`engines: ${checked} installed packages all allow Node ${supported.join(' and ')}`);
