import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { validate } from 'dockerfile-utils';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.ts';
import { projectPath } from '../../src/paths.ts';

/**
 * What can be checked of the container recipe without a container engine (this machine has none): the
 * Dockerfile passes a linter and has the shape the operations guide promises; compose.yaml, its proxy and
 * its env file fit together; the example env file is a valid configuration. `npm run check:container` goes
 * further: it assembles exactly the files the image would hold and runs the image's start command on them.
 */
const dockerfile = readFileSync(projectPath('Dockerfile'), 'utf8');
const instructions = dockerfile
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));
const stages = instructions.reduce<string[][]>((all, line) => {
  if (line.startsWith('FROM ')) all.push([]);
  all.at(-1)?.push(line);
  return all;
}, []);
const finalStage = stages.at(-1)!;

describe('Dockerfile', () => {
  it('passes the linter (dockerfile-utils) with no error or warning', () => {
    assert.deepEqual(
      validate(dockerfile).map((diagnostic) => `line ${diagnostic.range.start.line + 1}: ${diagnostic.message}`),
      [],
    );
  });

  it('is multi-stage; the image takes production dependencies and the bundle only', () => {
    assert.ok(stages.length >= 3, 'build, production dependencies, image');
    const dependencies = stages.find((stage) => stage[0]!.includes(' AS production-dependencies'))!;
    assert.ok(dependencies.some((line) => /^RUN npm ci --omit=dev\b/.test(line)));
    assert.ok(finalStage.includes('COPY --from=production-dependencies /app/node_modules ./node_modules'));
    assert.ok(finalStage.includes('COPY --from=build /app/dist ./dist'));
    assert.ok(!finalStage.some((line) => /^RUN npm (ci|install)\b/.test(line)), 'no install in the image itself');
  });

  it('runs as a non-root user, keeps its data under a volume, and checks /ready', () => {
    const user = finalStage.find((line) => line.startsWith('USER '));
    assert.ok(user && !/^USER (root|0)\b/.test(user), user);
    assert.ok(finalStage.indexOf(user) > finalStage.findIndex((line) => line.startsWith('RUN ')));
    assert.ok(finalStage.includes('VOLUME ["/data"]'));
    assert.ok(finalStage.some((line) => line.startsWith('ENV ') && line.includes('DATA_DIR=/data')));
    assert.ok(finalStage.some((line) => line.startsWith('RUN ') && line.includes('chown node:node /data')));
    const healthcheck = finalStage.find((line) => line.startsWith('HEALTHCHECK '));
    assert.match(healthcheck ?? '', /\/ready/);
  });

  it('starts as `npm start` does after its build: the launcher, node bin/care360.mjs', () => {
    const packageJson = JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.equal(packageJson.scripts.start, 'node bin/care360.mjs');
    assert.ok(finalStage.includes('CMD ["node", "bin/care360.mjs"]'));
  });

  it('copies what the server reads beside the bundle, and .dockerignore keeps none of it out', () => {
    const copied = finalStage
      .filter((line) => line.startsWith('COPY ') && !line.includes('--from='))
      .flatMap((line) => line.split(/\s+/).slice(1, -1));
    for (const source of copied) assert.ok(existsSync(projectPath(source)), `${source} exists`);
    // src/paths.ts: package.json (version.ts), src/db/migrations (migrate.ts), src/db/pglite-init.mjs (database.ts);
    // bin/care360.mjs, the CMD.
    for (const needed of ['package.json', 'src', 'bin']) assert.ok(copied.includes(needed), `${needed} is copied`);
    const ignored = readFileSync(projectPath('.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    for (const source of [...copied, 'scripts', 'tsconfig.json']) {
      assert.ok(!ignored.includes(source), `${source} is not ignored`);
    }
    for (const kept of ['node_modules', 'data', '.env', '.git']) assert.ok(ignored.includes(kept), `${kept} ignored`);
  });
});

describe('compose.yaml', () => {
  const compose = parse(readFileSync(projectPath('compose.yaml'), 'utf8')) as {
    services: Record<string, Record<string, unknown>>;
    volumes: Record<string, unknown>;
  };

  it('runs two care360 replicas from the image, on PostgreSQL and Redis, secrets from the env file', () => {
    const replicas = Object.entries(compose.services).filter(([name]) => name.startsWith('care360'));
    assert.equal(replicas.length, 2);
    for (const [, replica] of replicas) {
      assert.equal(replica.build, '.');
      assert.equal(replica.env_file, 'deploy/care360.env');
      const environment = replica.environment as Record<string, string>;
      assert.equal(environment.REDIS_URL, 'redis://redis:6379');
      assert.equal(environment.TRUST_PROXY, '1');
      assert.deepEqual(Object.keys(replica.depends_on as object).sort(), ['postgres', 'redis']);
      assert.ok(!('PHI_ENCRYPTION_KEY' in environment) && !('ADMIN_TOKEN' in environment), 'no secret inline');
    }
    assert.ok(compose.services.postgres!.healthcheck && compose.services.redis!.healthcheck);
    assert.ok('postgres-data' in compose.volumes);
  });

  it('puts a proxy in front of both replicas, over /ready, keeping /metrics inside', () => {
    const proxy = compose.services.proxy!;
    assert.deepEqual(Object.keys(proxy.depends_on as object).sort(), ['care360-1', 'care360-2']);
    const caddyfile = readFileSync(projectPath('deploy', 'Caddyfile'), 'utf8');
    assert.match(caddyfile, /reverse_proxy care360-1:3000 care360-2:3000/);
    assert.match(caddyfile, /health_uri \/ready/);
    assert.match(caddyfile, /@metrics path \/metrics\s+respond @metrics 404/);
  });

  it('has an example env file that is a valid configuration once its secrets are filled in', () => {
    const example = Object.fromEntries(
      readFileSync(projectPath('deploy', 'care360.env.example'), 'utf8')
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    for (const secret of ['PHI_ENCRYPTION_KEY', 'ADMIN_TOKEN', 'METRICS_TOKEN']) assert.equal(example[secret], '');
    const config = loadConfig({
      ...example,
      PHI_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      ADMIN_TOKEN: randomBytes(16).toString('hex'),
      METRICS_TOKEN: randomBytes(16).toString('hex'),
    });
    assert.match(config.databaseUrl ?? '', /@postgres:5432\/care360$/);
    assert.ok(config.observability.metricsToken);
    assert.ok(readFileSync(projectPath('.gitignore'), 'utf8').includes('deploy/*.env'), 'the real env file is ignored');
  });
});
