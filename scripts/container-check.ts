/**
 * `npm run check:container`: what can be tried of the container image without a container engine.
 *
 * It assembles, in a fresh folder, exactly the files the Dockerfile's final stage holds: the context files it
 * copies, the bundle its build stage makes (`npm run build`, on the same sources and lockfile), and the
 * node_modules of its production-dependencies stage (its own `npm ci --omit=dev`, run for real). Then it runs
 * the image's CMD there as an unprivileged user (nobody, as the image runs as `node`) with the image's ENV,
 * the app folder read-only to it and DATA_DIR the only writable place, waits for the HEALTHCHECK command to
 * pass, sends an intake, takes a backup with the CLI as an operator would inside the container
 * (`npm run cli -- backup`), stops the server with SIGTERM, and checks that nothing in the app folder changed.
 *
 * Not tried here: building the image itself (the base image, its apt layer, the COPY --chown semantics), the
 * compose network, the Caddy proxy, the PostgreSQL and Redis images. See README.md, "Operating it".
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectPath, projectRoot } from '../src/paths.ts';

const run = promisify(execFile);
const NOBODY = 65534;

interface Stage {
  name: string | undefined;
  lines: string[];
}

function stagesOf(dockerfile: string): Stage[] {
  const stages: Stage[] = [];
  for (const line of dockerfile
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((text) => text.trim())
    .filter((text) => text && !text.startsWith('#'))) {
    if (line.startsWith('FROM ')) stages.push({ name: / AS (\S+)$/.exec(line)?.[1], lines: [] });
    stages.at(-1)?.lines.push(line);
  }
  return stages;
}

/** `COPY a b ./dest` from the build context (not --from): the sources and the destination. */
function contextCopies(stage: Stage): { sources: string[]; destination: string }[] {
  return stage.lines
    .filter((line) => line.startsWith('COPY ') && !line.includes('--from='))
    .map((line) => {
      const parts = line.split(/\s+/).slice(1);
      return { sources: parts.slice(0, -1), destination: parts.at(-1)! };
    });
}

async function copyContext(stage: Stage, into: string): Promise<void> {
  for (const { sources, destination } of contextCopies(stage)) {
    // Several sources, or a destination folder (`./`, `dir/`): each goes in under its own name.
    const intoFolder = sources.length > 1 || destination.endsWith('/');
    for (const source of sources) {
      const target = intoFolder ? path.join(into, destination, path.basename(source)) : path.join(into, destination);
      await cp(projectPath(source), target, { recursive: true });
    }
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Every file under `directory` with its size and modification time. */
async function snapshot(directory: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(directory, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const info = await stat(file);
    files.set(path.relative(directory, file), `${info.size}:${info.mtimeMs}`);
  }
  return files;
}

const checks: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) throw new Error(`container check failed: ${what}`);
  checks.push(what);
  console.log(`  ok  ${what}`);
};

const dockerfile = await readFile(projectPath('Dockerfile'), 'utf8');
const stages = stagesOf(dockerfile);
const build = stages.find((stage) => stage.name === 'build')!;
const dependencies = stages.find((stage) => stage.name === 'production-dependencies')!;
const image = stages.at(-1)!;
const json = (instruction: string) => JSON.parse(instruction.slice(instruction.indexOf('['))) as string[];
const command = json(image.lines.find((line) => line.startsWith('CMD '))!);
const healthcheck = json(image.lines.find((line) => line.startsWith('HEALTHCHECK '))!.replace(/^.*? CMD /, 'CMD '));
const imageEnvironment = Object.fromEntries(
  image.lines
    .filter((line) => line.startsWith('ENV '))
    .flatMap((line) => line.slice(4).trim().split(/\s+/))
    .map((pair) => pair.split('=') as [string, string]),
);

const root = await mkdtemp(path.join(tmpdir(), 'care360-image-'));
await chmod(root, 0o755);
let server: ReturnType<typeof spawn> | undefined;
try {
  console.log(`care360 container check in ${root}`);
  // The build stage: its context files, the same lockfile's node_modules, `npm run build`.
  const buildDirectory = path.join(root, 'build');
  await mkdir(buildDirectory);
  await copyContext(build, buildDirectory);
  await symlink(path.join(projectRoot, 'node_modules'), path.join(buildDirectory, 'node_modules'));
  await run('npm', ['run', 'build'], { cwd: buildDirectory });
  check(
    (await stat(path.join(buildDirectory, 'dist', 'server.mjs'))).size > 0,
    'build stage: npm run build makes dist/server.mjs',
  );

  // The production-dependencies stage, for real.
  const dependencyDirectory = path.join(root, 'dependencies');
  await mkdir(dependencyDirectory);
  await copyContext(dependencies, dependencyDirectory);
  const install = dependencies.lines
    .find((line) => line.startsWith('RUN npm ci'))!
    .slice(4)
    .split(' && ')[0]!;
  await run('sh', ['-c', `${install} --prefer-offline`], { cwd: dependencyDirectory, maxBuffer: 16 * 1024 * 1024 });
  const devOnly = ['typescript', 'eslint', 'autocannon', 'playwright-core', 'fast-check'];
  const installed = await readdir(path.join(dependencyDirectory, 'node_modules'));
  check(
    !devOnly.some((name) => installed.includes(name)),
    `production dependencies only (${installed.length} entries, no dev tools)`,
  );

  // The image: its COPY lines, in order.
  const app = path.join(root, 'app');
  await mkdir(app);
  await cp(path.join(dependencyDirectory, 'node_modules'), path.join(app, 'node_modules'), { recursive: true });
  await cp(path.join(buildDirectory, 'dist'), path.join(app, 'dist'), { recursive: true });
  await copyContext(image, app);
  await run('chmod', ['-R', 'a+rX,go-w', app]);
  const data = path.join(root, 'data');
  await mkdir(data);
  await chown(data, NOBODY, NOBODY);
  const before = await snapshot(app);

  const port = await freePort();
  const adminToken = randomBytes(16).toString('hex');
  const environment = {
    PATH: process.env.PATH ?? '',
    HOME: data,
    ...imageEnvironment,
    HOST: '127.0.0.1', // the image listens on 0.0.0.0; here only loopback
    PORT: String(port),
    DATA_DIR: data,
    ADMIN_TOKEN: adminToken,
  };
  check(
    imageEnvironment.DATA_DIR === '/data' && imageEnvironment.NODE_ENV === 'production',
    'image ENV: NODE_ENV=production, DATA_DIR=/data',
  );
  const started = Date.now();
  server = spawn(command[0]!, command.slice(1), { cwd: app, env: environment, uid: NOBODY, gid: NOBODY });
  let output = '';
  server.stdout!.on('data', (chunk) => (output += chunk));
  server.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => server!.once('exit', (code) => resolve(code)));

  let healthy = false;
  while (!healthy && Date.now() - started < 90_000) {
    if (server.exitCode !== null) throw new Error(`the server exited with ${server.exitCode}:\n${output}`);
    const probe = await run(healthcheck[0]!, healthcheck.slice(1), {
      cwd: app,
      env: environment,
      uid: NOBODY,
      gid: NOBODY,
    }).then(
      () => true,
      () => false,
    );
    if (probe) healthy = true;
    else await new Promise((resolve) => setTimeout(resolve, 500));
  }
  check(
    healthy,
    `CMD ${JSON.stringify(command)} as uid ${NOBODY}: the HEALTHCHECK passes (GET /ready) after ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );

  const apiKey = /cv-api-key: (c360_\S+)/.exec(output)?.[1];
  check(apiKey !== undefined, 'the demo organization and its key are printed on first start');
  const intake = await fetch(`http://127.0.0.1:${port}/api/v1/dynamic-case`, {
    method: 'POST',
    headers: { 'cv-api-key': apiKey!, 'content-type': 'application/json' },
    body: JSON.stringify({
      firstName: 'Image',
      lastName: 'Check',
      email: 'image@example.com',
      formTitle: 'Image form',
      questions: [
        { question: 'What is your current weight?', type: 'TEXT', required: true, answer: '150 lbs' },
        { question: 'Medical history', type: 'TEXT', required: true, phi: true, answer: 'none' },
        {
          question: 'Scan',
          type: 'FILE',
          required: true,
          answer: [
            { name: 'a.bin', data: randomBytes(512).toString('base64'), contentType: 'application/octet-stream' },
          ],
        },
      ],
    }),
  });
  check(
    intake.status === 200,
    `an intake with a PHI answer and a file: ${intake.status} ${intake.status === 200 ? '' : await intake.text()}`,
  );

  const backup = await run(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'backup', path.join(data, 'backup.tar.gz')],
    {
      cwd: app,
      env: environment,
      uid: NOBODY,
      gid: NOBODY,
    },
  );
  check(
    /"takenBy": "server"/.test(backup.stdout),
    'npm run cli -- backup inside the image, through the running server',
  );

  server.kill('SIGTERM');
  check((await exited) === 0, 'SIGTERM: a graceful exit with code 0');
  server = undefined;
  const after = await snapshot(app);
  const changed = [...after].filter(([file, state]) => before.get(file) !== state).map(([file]) => file);
  const added = [...after.keys()].filter((file) => !before.has(file));
  check(changed.length === 0 && added.length === 0, `nothing written in the app folder (${after.size} files)`);
  const written = await readdir(data);
  check(
    written.includes('pglite') && written.includes('phi.key'),
    `everything written is under DATA_DIR: ${written.sort().join(', ')}`,
  );
  console.log(`container check passed: ${checks.length} checks`);
} finally {
  server?.kill('SIGKILL');
  await rm(root, { recursive: true, force: true });
}
