import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LoadResult, LoadSpec } from '../load.ts';
import { call, expectOk } from './api.ts';
import { runJsonChild, watchProcess } from './processes.ts';

/**
 * One run of the load generator (bench/load.ts, a process of its own) against a server, with the server's
 * peak RSS and CPU over it. The watch starts with the warm-up: its RSS peak is the server's peak under this load.
 */
export async function measureLoad(serverPid: number, spec: LoadSpec) {
  const directory = await mkdtemp(path.join(tmpdir(), 'care360-load-'));
  const specPath = path.join(directory, 'spec.json');
  await writeFile(specPath, JSON.stringify(spec));
  const watch = watchProcess(serverPid);
  try {
    const result = await runJsonChild<LoadResult>('bench/load.ts', [specPath], {
      timeoutMs: ((spec.warmupSeconds ?? 0) + spec.durationSeconds) * 1000 + 90_000,
    });
    return { ...result, ...watch.stop() };
  } finally {
    watch.stop();
    await rm(directory, { recursive: true, force: true });
  }
}

/** The organization of the server's bootstrap key (BOOTSTRAP_API_KEY), through the admin API. */
export async function bootstrapOrganizationId(url: string, adminToken: string): Promise<string> {
  const organizations = await call(url, 'GET', '/admin/v1/organizations', {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  expectOk(organizations, 'GET /admin/v1/organizations');
  const list = (organizations.body as { organizations: { id: string; name: string }[] }).organizations;
  const organizationId = list.find((organization) => organization.name === 'Bootstrap organization')?.id ?? list[0]?.id;
  if (!organizationId) throw new Error('the bootstrap organization is missing');
  return organizationId;
}
