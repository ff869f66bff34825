import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freshDatabase } from '../support/database.ts';
import { runCli } from '../support/server-process.ts';

/** `org rename`, and `staff create|list|disable|reset-password` as an operator runs them, on either engine. */
describe('the staff CLI', () => {
  const environment: Record<string, string> = { PHI_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
  let cleanup: () => Promise<void>;

  before(async () => {
    if (process.env.TEST_DATABASE_URL) {
      const { db, url, drop } = await freshDatabase();
      await db.close();
      environment.DATABASE_URL = url!;
      cleanup = async () => drop().catch(() => undefined);
    } else {
      const dataDir = await mkdtemp(join(tmpdir(), 'care360-staff-cli-'));
      environment.DATA_DIR = dataDir;
      cleanup = () => rm(dataDir, { recursive: true, force: true });
    }
  });
  after(() => cleanup());

  const cli = async (...args: string[]) => runCli(args, environment);
  const json = async (...args: string[]) => {
    const result = await cli(...args);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout);
  };

  it('creates a provider with a set-password token, lists, resets and disables', async () => {
    const { organizationId } = await json('org', 'create', 'CLI clinic');
    const created = await json(
      'staff',
      'create',
      '--email',
      'Doc@Clinic.example',
      '--first-name',
      'Doc',
      '--last-name',
      'Tor',
      '--role',
      'provider',
      '--organizations',
      organizationId,
      '--npi',
      '1234567890',
      '--states',
      'dc,ny',
    );
    assert.equal(created.role, 'PROVIDER');
    assert.deepEqual(created.organizationIds, [organizationId]);
    assert.deepEqual(created.licensedStates, ['DC', 'NY']);
    assert.match(created.setPassword.token, /^c360p_/);

    const refused = await cli(
      'staff',
      'create',
      '--email',
      'x@clinic.example',
      '--first-name',
      'X',
      '--last-name',
      'Y',
      '--role',
      'nurse',
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--role: one of ADMIN, PROVIDER, SUPPORT/);

    const listed = await json('staff', 'list');
    assert.deepEqual(
      listed.map((member: { email: string }) => member.email),
      ['doc@clinic.example'],
    );
    assert.ok(!JSON.stringify(listed).includes('scrypt'));

    const reset = await json('staff', 'reset-password', created.staffId);
    assert.notEqual(reset.setPassword.token, created.setPassword.token);
    const disabled = await json('staff', 'disable', created.staffId);
    assert.equal(disabled.disabled, true);
    const afterDisable = await cli('staff', 'reset-password', created.staffId);
    assert.equal(afterDisable.code, 1);
    assert.match(afterDisable.stderr, /disabled/);
  });

  it("shows and changes an organization's auto-assignment", async () => {
    const { organizationId } = await json('org', 'create', 'CLI rotation');
    assert.deepEqual(await json('staff', 'auto-assignment', organizationId), {
      organizationId,
      enabled: false,
      maxOpenCases: 10,
    });
    assert.deepEqual(await json('staff', 'auto-assignment', organizationId, '--on', '--max-open-cases', '3'), {
      organizationId,
      enabled: true,
      maxOpenCases: 3,
    });
    const refused = await cli('staff', 'auto-assignment', organizationId, '--max-open-cases', '0');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--max-open-cases: a whole number from 1 to 10000/);
    const unknown = await cli('staff', 'auto-assignment', '00000000-0000-4000-8000-000000000000', '--off');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Organization not found/);
    assert.deepEqual(await json('staff', 'auto-assignment', organizationId, '--off'), {
      organizationId,
      enabled: false,
      maxOpenCases: 3,
    });
  });

  it('renames an organization, and refuses a bad name or an unknown organization', async () => {
    const { organizationId } = await json('org', 'create', 'CLI old name');
    const renamed = await json('org', 'rename', organizationId, ' CLI new name ');
    assert.equal(renamed.id, organizationId);
    assert.equal(renamed.name, 'CLI new name');
    const empty = await cli('org', 'rename', organizationId, '  ');
    assert.equal(empty.code, 1);
    assert.match(empty.stderr, /name: 1 to 200 characters/);
    const unknown = await cli('org', 'rename', '00000000-0000-4000-8000-000000000000', 'Nobody');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Organization not found/);
    const listed = await json('org', 'list');
    assert.deepEqual(
      listed.filter((row: { id: string }) => row.id === organizationId).map((row: { name: string }) => row.name),
      ['CLI new name'],
    );
  });
});
