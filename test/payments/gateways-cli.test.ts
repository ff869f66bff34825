import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freshDatabase } from '../support/database.ts';
import { runCli } from '../support/server-process.ts';

/**
 * `payments gateways show|set|remove`: an organization's own accounts, sealed, as an operator manages them; and
 * the refusals of `payments settle-refund`, `charge-again` and `settle-hold` (what they record: refunds.test.ts,
 * approval-charges.test.ts and resume-saved-method.test.ts).
 */
describe('the payments gateways and operator settlement CLI', () => {
  const environment: Record<string, string> = { PHI_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
  let cleanup: () => Promise<void>;

  before(async () => {
    if (process.env.TEST_DATABASE_URL) {
      const { db, url, drop } = await freshDatabase();
      await db.close();
      environment.DATABASE_URL = url!;
      cleanup = async () => drop().catch(() => undefined);
    } else {
      const dataDir = await mkdtemp(join(tmpdir(), 'care360-gateways-cli-'));
      environment.DATA_DIR = dataDir;
      cleanup = () => rm(dataDir, { recursive: true, force: true });
    }
  });
  after(() => cleanup());

  const cli = (...args: string[]) => runCli(args, environment);
  const json = async (...args: string[]) => {
    const result = await cli(...args);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout);
  };
  /** The CLI with `input` on its standard input (a secret kept out of the process list). */
  const withInput = async (input: string, ...args: string[]) => {
    const result = await runCli(args, environment, input);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout);
  };

  it('shows, sets (from --value or standard input) and removes credentials, never printing a secret', async () => {
    const { organizationId } = await json('org', 'create', 'Gateway CLI clinic');
    const empty = await json('payments', 'gateways', 'show', organizationId);
    assert.deepEqual(Object.values(empty), [
      { set: false },
      { set: false },
      { set: false },
      { set: false },
      { set: false },
    ]);

    const secretKey = `sk_test_${randomBytes(12).toString('hex')}`;
    const setKey = await cli('payments', 'gateways', 'set', organizationId, 'stripeSecretKey', '--value', secretKey);
    assert.equal(setKey.code, 0, setKey.stderr);
    assert.ok(!setKey.stdout.includes(secretKey), 'the secret is never printed');
    assert.equal(JSON.parse(setKey.stdout).stripeSecretKey.last4, secretKey.slice(-4));

    const webhookSecret = `whsec_${randomBytes(12).toString('hex')}`;
    const fromInput = await withInput(
      `${webhookSecret}\n`,
      'payments',
      'gateways',
      'set',
      organizationId,
      'stripeWebhookSecret',
    );
    assert.equal(fromInput.stripeWebhookSecret.last4, webhookSecret.slice(-4));

    const shown = await cli('payments', 'gateways', 'show', organizationId);
    assert.equal(shown.code, 0, shown.stderr);
    assert.ok(!shown.stdout.includes(secretKey) && !shown.stdout.includes(webhookSecret));
    const view = JSON.parse(shown.stdout);
    assert.equal(view.stripeSecretKey.set, true);
    assert.equal(view.stripeWebhookSecret.set, true);
    assert.deepEqual(view.nmiSecurityKey, { set: false });

    const removed = await json('payments', 'gateways', 'remove', organizationId, 'stripeWebhookSecret');
    assert.deepEqual(removed.stripeWebhookSecret, { set: false });
    assert.equal(removed.stripeSecretKey.set, true);
  });

  it('refuses an unknown name, a malformed value and an unknown organization, changing nothing', async () => {
    const { organizationId } = await json('org', 'create', 'Gateway CLI refusals');
    const refusals: [string[], RegExp][] = [
      [['set', organizationId, 'paypalKey', '--value', 'x'], /<name> must be one of stripeSecretKey/],
      [['set', organizationId, 'stripeSecretKey', '--value', 'not-a-key'], /stripeSecretKey: Must be a Stripe secret/],
      [['remove', organizationId, 'nope'], /<name> must be one of/],
      [['show', '00000000-0000-4000-8000-000000000000'], /Organization not found/],
    ];
    for (const [args, message] of refusals) {
      const result = await cli('payments', 'gateways', ...args);
      assert.equal(result.code, 1, args.join(' '));
      assert.match(result.stderr, message);
    }
    const view = await json('payments', 'gateways', 'show', organizationId);
    assert.ok(Object.values(view).every((credential) => (credential as { set: boolean }).set === false));
  });

  it('settle-refund, charge-again and settle-hold refuse a missing or doubled outcome and an unknown record', async () => {
    assert.deepEqual(await json('payments', 'left-to-operator'), [], 'nothing is left to an operator yet');
    const { organizationId } = await json('org', 'create', 'Settle refund CLI refusals');
    const refund = '00000000-0000-4000-8000-000000000000';
    const refusals: [string[], RegExp][] = [
      [[organizationId, refund], /Give --made <gatewayRefundId> .* or --never-made/],
      [[organizationId, refund, '--made', ' '], /Give --made <gatewayRefundId>/],
      [[organizationId, refund, '--made', 're_1', '--never-made'], /Give --made or --never-made, not both/],
      [[organizationId, refund, '--never-made'], /Refund not found/],
    ];
    const refused = async (args: string[], message: RegExp) => {
      const result = await cli('payments', ...args);
      assert.equal(result.code, 1, args.join(' '));
      assert.match(result.stderr, message);
    };
    for (const [args, message] of refusals) await refused(['settle-refund', ...args], message);
    await refused(['charge-again', organizationId, refund], /required option '--nothing-charged' not specified/);
    await refused(['charge-again', organizationId, refund, '--nothing-charged'], /No approval charge of this payment/);
    await refused(['settle-hold', organizationId, refund], /required option '--never-placed' not specified/);
    await refused(['settle-hold', organizationId, refund, '--never-placed'], /Payment not found/);
  });
});
