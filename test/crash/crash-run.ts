import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/db/database.ts';
import { startFakeNmi, type FakeNmiServer } from '../fakes/nmi-server.ts';
import { startFakeStripe, type FakeStripeServer } from '../fakes/stripe-server.ts';
import { schemaUrl } from '../support/database.ts';
import { startServer, type RunningServer } from '../support/server-process.ts';
import {
  checkWebhookInvariants,
  endLeasesAndReadCommitted,
  WebhookWitness,
  type CommittedDelivery,
} from './webhook-receipts.ts';

/**
 * Crash consistency: a real server process on a fresh database, intake and payment traffic from
 * concurrent clients that retry (same idempotency keys) until they get an answer, SIGKILL at random
 * moments, restarts, then the invariants, checked on the database and on the fake Stripe server.
 * On PostgreSQL the run may also terminate the server's database backends at random moments
 * (`pg_terminate_backend`, as a failover or an idle-in-transaction timeout does): the server must
 * keep running through them, and the same invariants hold.
 *
 * - every case whose 200 reached a client exists with its form response and all its answers;
 * - no orphan rows (answers, form responses, payments, files, patients without their parent);
 * - no idempotency key with two records (cases, case payments);
 * - no hold placed twice for one payment, none captured twice, and Stripe agrees with every record;
 * - the gateway never holds or charges money without a matching payment record, and every hold (Stripe or
 *   NMI) is in the state its record says;
 * - with `decisions`: a staff member approves or rejects cases; the server's job charges each owed payment of an
 *   approved case and captures its holds, and releases the holds of a rejected one, through the kills; clients refund
 *   captured payments. Then every charge and refund at Stripe has exactly one record and every record its charge
 *   (one PaymentIntent per payment, refunds summed per payment), and every job record is settled;
 * - with `webhooks`: every committed case event reached the organization's webhook receiver (duplicates
 *   allowed, each copy with its event's webhook-id, signed), none of a change that rolled back, in order per case.
 */

export interface CrashOptions {
  /** SIGKILLs of the server, each followed by a restart. */
  kills: number;
  /**
   * Rounds of `pg_terminate_backend` on every database backend of the server, at random moments under the
   * same traffic (PostgreSQL only). The server must survive each one: an exit is a violation.
   */
  terminations?: number;
  /** Concurrent clients. */
  clients: number;
  /** Traffic between two kills, in milliseconds: a random time in this range. */
  trafficMs: [number, number];
  /** PostgreSQL server URL (a fresh schema is made in it and dropped); none: PGlite in a fresh DATA_DIR. */
  databaseUrl?: string;
  /**
   * One intake in three pays with an NMI payment token (a sale the server makes before the case exists).
   * NMI has no idempotency key: a crash between NMI's answer and its record is settled by the retry asking
   * NMI's Query API for the orderid (docs/reliability.md); the invariants check one transaction per orderid.
   */
  nmiCharges?: boolean;
  /**
   * The organization has a webhook endpoint (every event) at a receiver in this process, so SIGKILLs land while
   * events are being delivered; after the last restart every committed event must have arrived.
   */
  webhooks?: boolean;
  /**
   * Staff decisions on the saved-card cases (charge on approval, holds released on rejection) and refunds of
   * captured payments, so SIGKILLs land in the approval job and in refunds (docs/api/payments.md#charge-on-approval).
   */
  decisions?: boolean;
  log?: (line: string) => void;
}

export interface CrashReport {
  engine: 'postgres' | 'pglite';
  kills: number;
  /** Rounds of backend terminations, the backends they ended, and the server's exits they caused (must be 0). */
  terminations: number;
  backendsTerminated: number;
  serverExits: number;
  requestsSent: number;
  requestsLostToCrashes: number;
  /** Requests answered 503 (database or gateway unavailable for a moment), retried as documented. */
  requestsAnswered503: number;
  casesAcknowledged: number;
  casesConfirmedBy409: number;
  /** Intakes that charged an NMI payment token (a sale made by the server before the case exists). */
  nmiChargesAcknowledged: number;
  holdsAcknowledged: number;
  capturesAcknowledged: number;
  releasesAcknowledged: number;
  /** Cases approved and rejected by staff decisions, and refunds acknowledged. */
  approvals: number;
  rejections: number;
  refundsAcknowledged: number;
  stripeRefundsChecked: number;
  stripeIntentsChecked: number;
  nmiTransactionsChecked: number;
  /** Retries that asked NMI's Query API for their orderid, and those that found the earlier transaction. */
  nmiLookups: number;
  nmiLookupsFound: number;
  rowsChecked: number;
  /** Webhook deliveries committed (each checked as received), and the copies received more than once. */
  webhookEventsChecked: number;
  webhookDuplicates: number;
  violations: string[];
}

const ADMIN_TOKEN = 'crash-admin-token';
const ANSWERS_PER_CASE = 3;

interface AcknowledgedCase {
  idempotencyKey: string;
  caseId: string | null;
  /** The intake charged an NMI token: its case must carry the PAID payment of that charge. */
  charged: boolean;
}

interface AcknowledgedPayment {
  paymentId: string;
  caseId: string;
  amountCents: number;
  /** 'charged': an owed payment (no hold) charged on approval. */
  outcome: 'held' | 'captured' | 'released' | 'charged';
  capturedCents?: number;
  refundedCents?: number;
  /** The server's approval job settles it after the decision (waited for before the checks). */
  byJob?: boolean;
}

class Retry extends Error {}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runCrashConsistency(options: CrashOptions): Promise<CrashReport> {
  const log = options.log ?? (() => undefined);
  const fake: FakeStripeServer = await startFakeStripe();
  const nmi: FakeNmiServer = await startFakeNmi();
  const port = await freePort();
  const phiKey = randomBytes(32).toString('hex');
  const schema = `care360_crash_${randomBytes(5).toString('hex')}`;
  const dataDir = options.databaseUrl ? undefined : await mkdtemp(path.join(tmpdir(), 'care360-crash-'));
  const engine = options.databaseUrl ? 'postgres' : 'pglite';
  if (options.databaseUrl) await withClient(options.databaseUrl, (client) => client.query(`create schema ${schema}`));
  if (options.terminations && !options.databaseUrl) throw new Error('backend terminations need PostgreSQL');
  // The server's connections carry the schema's name, so only its backends are terminated.
  const databaseUrl = options.databaseUrl ? new URL(schemaUrl(options.databaseUrl, schema)) : undefined;
  databaseUrl?.searchParams.set('application_name', schema);
  const environment: Record<string, string> = {
    ...fake.environment({ STRIPE_TIMEOUT_MS: '5000' }),
    ...nmi.environment(),
    NMI_TIMEOUT_MS: '5000',
    PORT: String(port),
    ADMIN_TOKEN,
    PHI_ENCRYPTION_KEY: phiKey,
    RATE_LIMIT_PER_KEY: '0',
    RATE_LIMIT_PER_ADDRESS: '0',
    LOG_LEVEL: 'info',
    // The webhook receiver listens on 127.0.0.1.
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    ...(options.databaseUrl
      ? { DATABASE_URL: databaseUrl!.toString(), DATABASE_POOL_SIZE: '10' }
      : { DATA_DIR: dataDir! }),
  };
  const base = `http://127.0.0.1:${port}`;
  const report: CrashReport = {
    engine,
    kills: 0,
    terminations: 0,
    backendsTerminated: 0,
    serverExits: 0,
    requestsSent: 0,
    requestsLostToCrashes: 0,
    requestsAnswered503: 0,
    casesAcknowledged: 0,
    casesConfirmedBy409: 0,
    nmiChargesAcknowledged: 0,
    holdsAcknowledged: 0,
    capturesAcknowledged: 0,
    releasesAcknowledged: 0,
    approvals: 0,
    rejections: 0,
    refundsAcknowledged: 0,
    stripeRefundsChecked: 0,
    stripeIntentsChecked: 0,
    nmiTransactionsChecked: 0,
    nmiLookups: 0,
    nmiLookupsFound: 0,
    rowsChecked: 0,
    webhookEventsChecked: 0,
    webhookDuplicates: 0,
    violations: [],
  };

  const witness = options.webhooks ? await new WebhookWitness().start() : undefined;
  let server: RunningServer = await startServer(environment);
  const cases: AcknowledgedCase[] = [];
  const payments: AcknowledgedPayment[] = [];
  try {
    const created = await fetch(`${base}/admin/v1/organizations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Crash test organization' }),
    });
    const { apiKey, organizationId } = (await created.json()) as { apiKey: string; organizationId: string };
    await witness?.subscribe(base, ADMIN_TOKEN, organizationId);

    /** One request, retried (same body, same idempotency key) through crashes until it gets an answer. */
    const call = async (
      method: string,
      url: string,
      body?: unknown,
      headers: Record<string, string> = { 'cv-api-key': apiKey },
    ): Promise<{ status: number; json: unknown }> => {
      const deadline = Date.now() + 180_000;
      for (;;) {
        report.requestsSent += 1;
        try {
          const response = await fetch(`${base}${url}`, {
            method,
            headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
            signal: AbortSignal.timeout(20_000),
          });
          const json: unknown = await response.json();
          // 503: the gateway or the database was unavailable (a restart); the documented advice is to retry.
          if (response.status === 503) {
            report.requestsAnswered503 += 1;
            throw new Retry(`503 ${JSON.stringify(json)}`);
          }
          // 409 "being processed": an attempt cut short by a crash holds the intake's charge until its claim lapses.
          if (response.status === 409 && JSON.stringify(json).includes('being processed')) {
            throw new Retry(`409 ${JSON.stringify(json)}`);
          }
          if (response.status >= 500) {
            report.violations.push(`${method} ${url} answered ${response.status}: ${JSON.stringify(json)}`);
          }
          return { status: response.status, json };
        } catch (error) {
          if (!(error instanceof Retry)) report.requestsLostToCrashes += 1;
          if (Date.now() > deadline) {
            throw new Error(`${method} ${url}: no answer for 180 s`, { cause: error });
          }
          await sleep(150 + randomInt(250));
        }
      }
    };

    /** A staff member of the organization (created through the admin API), signed in: their bearer header. */
    const staffMember = async (
      role: string,
      extra: Record<string, unknown>,
    ): Promise<{ headers: Record<string, string>; staffId: string }> => {
      const email = `${role.toLowerCase()}-${randomBytes(4).toString('hex')}@crash.example.com`;
      const password = randomBytes(12).toString('hex');
      const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
      const created = await call(
        'POST',
        '/admin/v1/staff',
        { email, firstName: 'Crash', lastName: role, role, password, organizationIds: [organizationId], ...extra },
        admin,
      );
      if (created.status !== 201) throw new Error(`staff ${role}: ${created.status} ${JSON.stringify(created.json)}`);
      const signedIn = await call('POST', '/staff/v1/auth/login', { email, password }, {});
      if (signedIn.status !== 200) throw new Error(`login ${role}: ${signedIn.status}`);
      const answer = signedIn.json as { accessToken: string; staff: { staffId: string } };
      return { headers: { authorization: `Bearer ${answer.accessToken}` }, staffId: answer.staff.staffId };
    };
    const support = options.decisions ? await staffMember('SUPPORT', {}) : undefined;
    const provider = options.decisions ? await staffMember('PROVIDER', { licensedStates: ['DC'] }) : undefined;
    /** Assigns the case to the provider, who decides it. A decision retried after a crash finds it decided: 409. */
    const decide = async (caseId: string, isApproved: boolean): Promise<boolean> => {
      const assignee = { assigneeId: provider!.staffId };
      const assigned = await call('POST', `/staff/v1/cases/${caseId}/assign`, assignee, support!.headers);
      if (assigned.status !== 200 && assigned.status !== 409) {
        report.violations.push(`assign answered ${assigned.status}: ${JSON.stringify(assigned.json)}`);
        return false;
      }
      const decided = await call('POST', `/staff/v1/cases/${caseId}/decisions`, { isApproved }, provider!.headers);
      if (decided.status !== 200 && decided.status !== 409) {
        report.violations.push(`decision answered ${decided.status}: ${JSON.stringify(decided.json)}`);
        return false;
      }
      return true;
    };

    /** A card saved through a SetupIntent that the browser (here, the fake) confirmed. */
    const savedCard = async (): Promise<{ stripeSetupId: string } | undefined> => {
      const setup = await call('POST', '/api/v1/payments/setup', {});
      if (setup.status !== 200) {
        report.violations.push(`payments/setup answered ${setup.status}: ${JSON.stringify(setup.json)}`);
        return undefined;
      }
      const setupIntentId = String((setup.json as { paymentSecret: string }).paymentSecret).split('_secret_')[0]!;
      fake.confirmSetupIntent(setupIntentId);
      return { stripeSetupId: setupIntentId };
    };

    let stopping = false;
    let scenario = 0;
    const client = async (clientIndex: number) => {
      while (!stopping) {
        const n = ++scenario;
        // One intake in three pays with an NMI token (a sale before the case exists); the others save a card.
        const charged = options.nmiCharges === true && n % 3 === 0;
        const paymentFields = charged
          ? {
              nmiChargeNow: true,
              nmiPaymentToken: `tok_crash_${n}_${randomBytes(4).toString('hex')}`,
              paymentAmount: 25,
            }
          : await savedCard();
        if (!paymentFields) continue;
        const idempotencyKey = `crash-case-${n}-${randomUUID()}`;
        const intake = await call('POST', '/api/v1/dynamic-case', {
          firstName: 'Crash',
          lastName: `Client${clientIndex}`,
          email: `patient-${randomInt(5)}@crash.example.com`,
          formTitle: `Crash form ${randomInt(2)}`,
          idempotencyKey,
          ...paymentFields,
          // The provider who decides is licensed where the patient lives.
          ...(options.decisions
            ? {
                shippingAddress: {
                  addressLine1: '1 Main St',
                  city: 'Washington',
                  state: 'DC',
                  country: 'US',
                  postalCode: '20500',
                },
              }
            : {}),
          questions: [
            { question: 'What is your current weight?', type: 'TEXT', required: true, answer: `${100 + n} lbs` },
            { question: 'Medical history', type: 'TEXT', required: true, phi: true, answer: `history ${n}` },
            {
              question: 'Goals',
              type: 'MULTISELECT',
              required: false,
              options: ['Energy', 'Sleep', 'Mobility'],
              answer: JSON.stringify(['Energy', 'Sleep']),
            },
          ],
        });
        if (intake.status === 409) {
          // The first attempt committed but its answer was lost in a crash: the case must exist.
          cases.push({ idempotencyKey, caseId: null, charged });
          report.casesConfirmedBy409 += 1;
          continue;
        }
        if (intake.status !== 200) {
          report.violations.push(`intake answered ${intake.status}: ${JSON.stringify(intake.json)}`);
          continue;
        }
        const caseId = (intake.json as { data: { caseId: string } }).data.caseId;
        cases.push({ idempotencyKey, caseId, charged });
        report.casesAcknowledged += 1;
        if (witness) {
          // Two comments after the case's CREATE_CASE: three events of one case whose order the receiver checks.
          for (const text of ['First comment', 'Second comment']) {
            const comment = await call('POST', `/api/v1/cases/${caseId}`, {
              action: 'ADD_COMMUNICATION',
              communication: { text, author: { email: 'crash@example.com' } },
            });
            if (comment.status !== 200) {
              report.violations.push(`comment answered ${comment.status}: ${JSON.stringify(comment.json)}`);
            }
          }
        }
        if (charged) {
          report.nmiChargesAcknowledged += 1;
          continue;
        }

        const path = options.decisions ? randomInt(10) : 0;
        if (path >= 4) {
          // Decided by staff: approved (an owed payment charged, a hold captured) or rejected (the hold released).
          const approve = path < 7;
          const decided: AcknowledgedPayment[] = [];
          for (const preauthorize of approve ? [false, true] : [true]) {
            const amountCents = 1000 + randomInt(9000);
            const created = await call('POST', `/api/v1/cases/${caseId}/payments`, {
              amount: amountCents / 100,
              preauthorize,
              idempotencyKey: `crash-owed-${n}-${preauthorize}-${randomUUID()}`,
            });
            if (created.status === 409) continue; // created by an attempt whose answer was lost: checked below
            if (created.status !== 200) {
              report.violations.push(`payment answered ${created.status}: ${JSON.stringify(created.json)}`);
              continue;
            }
            const paymentId = (created.json as { data: { result: { paymentId: string } } }).data.result.paymentId;
            if (preauthorize) report.holdsAcknowledged += 1;
            decided.push({
              paymentId,
              caseId,
              amountCents,
              outcome: !approve ? 'released' : preauthorize ? 'captured' : 'charged',
              capturedCents: approve ? amountCents : undefined,
              byJob: true,
            });
          }
          if (!(await decide(caseId, approve))) continue;
          if (approve) report.approvals += 1;
          else report.rejections += 1;
          payments.push(...decided);
          continue;
        }

        const amountCents = 1000 + randomInt(9000);
        const hold = await call('POST', `/api/v1/cases/${caseId}/payments`, {
          amount: amountCents / 100,
          preauthorize: true,
          idempotencyKey: `crash-hold-${n}-${randomUUID()}`,
        });
        if (hold.status === 409) continue; // held by an attempt whose answer was lost: checked against Stripe below
        if (hold.status !== 200) {
          report.violations.push(`hold answered ${hold.status}: ${JSON.stringify(hold.json)}`);
          continue;
        }
        const paymentId = (hold.json as { data: { result: { paymentId: string } } }).data.result.paymentId;
        const payment: AcknowledgedPayment = { paymentId, caseId, amountCents, outcome: 'held' };
        payments.push(payment);
        report.holdsAcknowledged += 1;

        const choice = randomInt(10);
        if (choice < 6) {
          const partial = choice < 3;
          const captureCents = partial ? Math.max(100, Math.floor(amountCents / 2)) : amountCents;
          const capture = await call(
            'POST',
            `/api/v1/cases/${caseId}/payments/${paymentId}/capture`,
            partial ? { amount: captureCents / 100 } : {},
          );
          if (capture.status === 200) {
            payment.outcome = 'captured';
            payment.capturedCents = captureCents;
            report.capturesAcknowledged += 1;
            if (options.decisions && randomInt(2) === 0) {
              // A refund of all of it or of part, retried through crashes with its key: refunded once.
              const refundCents = randomInt(2) === 0 ? captureCents : Math.max(50, Math.floor(captureCents / 3));
              const refund = await call('POST', `/api/v1/cases/${caseId}/payments/${paymentId}/refund`, {
                amount: refundCents / 100,
                idempotencyKey: `crash-refund-${n}-${randomUUID()}`,
              });
              if (refund.status === 200) {
                payment.refundedCents = refundCents;
                report.refundsAcknowledged += 1;
              } else {
                report.violations.push(`refund answered ${refund.status}: ${JSON.stringify(refund.json)}`);
              }
            }
          } else {
            report.violations.push(`capture answered ${capture.status}: ${JSON.stringify(capture.json)}`);
          }
        } else if (choice < 8) {
          const release = await call('POST', `/api/v1/cases/${caseId}/payments/${paymentId}/cancel`, {});
          if (release.status === 200) {
            payment.outcome = 'released';
            report.releasesAcknowledged += 1;
          } else {
            report.violations.push(`cancel answered ${release.status}: ${JSON.stringify(release.json)}`);
          }
        }
      }
    };

    /** Whether the server has exited since its start (a violation when only its backends were terminated). */
    const exitedAfterTermination = (): boolean => {
      const exited = server.process.exitCode ?? server.process.signalCode;
      if (exited === null) return false;
      report.serverExits += 1;
      const tail = server.output().trim().split('\n').slice(-3).join(' | ');
      report.violations.push(`the server exited (${exited}) when its backends were terminated: ${tail.slice(0, 600)}`);
      return true;
    };

    const clients = Array.from({ length: options.clients }, (_, index) => client(index));
    for (let kill = 1; kill <= options.kills; kill += 1) {
      await sleep(randomInt(options.trafficMs[0], options.trafficMs[1] + 1));
      await server.stop('SIGKILL');
      report.kills += 1;
      log(`  kill ${kill}/${options.kills}: SIGKILL after ${report.requestsSent} requests; restarting`);
      server = await startServer(environment);
    }
    for (let round = 1; round <= (options.terminations ?? 0); round += 1) {
      await sleep(randomInt(options.trafficMs[0], options.trafficMs[1] + 1));
      const ended = await withClient(options.databaseUrl!, (client) =>
        // In the select list, so it runs only on the rows the filter kept.
        client.query(
          `select pg_terminate_backend(pid) from pg_stat_activity
            where application_name = $1 and pid <> pg_backend_pid()`,
          [schema],
        ),
      );
      report.terminations += 1;
      report.backendsTerminated += ended.rowCount ?? 0;
      log(
        `  termination ${round}/${options.terminations}: ${ended.rowCount} backends after ${report.requestsSent} requests`,
      );
      // Long enough for an unhandled connection error to end the process.
      await sleep(200);
      if (exitedAfterTermination()) server = await startServer(environment);
    }
    await sleep(options.trafficMs[0]);
    // Until a case and a hold were acknowledged (at most a minute more): a slow machine then still leaves the
    // invariants something to check, by construction rather than by the luck of the kill timings.
    const patience = Date.now() + 60_000;
    while ((report.casesAcknowledged === 0 || report.holdsAcknowledged === 0) && Date.now() < patience)
      await sleep(100);
    if (options.terminations) exitedAfterTermination();
    stopping = true;
    await Promise.all(clients);
    await server.stop('SIGTERM');

    const open = () =>
      openDatabase(
        options.databaseUrl
          ? { engine: 'postgres', url: schemaUrl(options.databaseUrl, schema), poolSize: 2 }
          : { engine: 'pglite', dataDir: dataDir! },
      );
    if (options.decisions) {
      // A worker killed mid-call holds its record until the lease lapses (minutes): ended, as the lease would be;
      // then one more server, without traffic, works through the decisions' charges, captures and releases.
      const jobs = await open();
      try {
        await jobs.query("update payment_approval_charges set claimed_until = null where status = 'pending'");
      } finally {
        await jobs.close();
      }
      server = await startServer(environment);
      await settledByJob(
        base,
        apiKey,
        payments.filter((payment) => payment.byJob),
        60_000,
      );
      await server.stop('SIGTERM');
    }
    let committed: CommittedDelivery[] = [];
    if (witness) {
      // One more server, without traffic, to send what is still queued; then the receiver is compared with it.
      const queue = await open();
      try {
        committed = await endLeasesAndReadCommitted(queue);
      } finally {
        await queue.close();
      }
      server = await startServer(environment);
      await witness.waitFor(
        committed.map((delivery) => delivery.event_id),
        60_000,
      );
      await witness.untilNothingPending(60_000);
      await server.stop('SIGTERM');
    }
    const db = await open();
    try {
      await checkInvariants(db, fake, nmi, cases, payments, report);
      if (witness) {
        const checked = await checkWebhookInvariants(db, witness, committed, (message) =>
          report.violations.push(message),
        );
        report.webhookEventsChecked = checked.eventsChecked;
        report.webhookDuplicates = checked.duplicates;
      }
    } finally {
      await db.close();
    }
    return report;
  } finally {
    await server.stop('SIGKILL').catch(() => undefined);
    await witness?.close();
    await fake.stop();
    await nmi.stop();
    if (options.databaseUrl) {
      await withClient(options.databaseUrl, (client) => client.query(`drop schema if exists ${schema} cascade`));
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }
}

/** Waits (up to `ms`) until the job brought every decided payment to the state its decision asks for. */
async function settledByJob(base: string, apiKey: string, decided: AcknowledgedPayment[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  const wanted = { charged: 'NONE', captured: 'CAPTURED', released: 'RELEASED', held: 'HELD' } as const;
  let waiting = decided;
  while (waiting.length > 0 && Date.now() < deadline) {
    const still: AcknowledgedPayment[] = [];
    for (const payment of waiting) {
      const response = await fetch(`${base}/api/v1/cases/${payment.caseId}/payments/${payment.paymentId}`, {
        headers: { 'cv-api-key': apiKey },
      }).catch(() => null);
      const result = response?.ok
        ? ((await response.json()) as { data: { result: { status: string; holdStatus: string } } }).data.result
        : null;
      const done =
        result?.holdStatus === wanted[payment.outcome] && (payment.outcome !== 'charged' || result.status === 'PAID');
      if (!done) still.push(payment);
    }
    waiting = still;
    if (waiting.length > 0) await sleep(500);
  }
}

async function count(db: Database, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from (${sql}) x`, params);
  return rows[0]!.n;
}

/**
 * The invariants of the stored records alone (no client or gateway to compare with): no orphan rows, no case
 * without its form response, one record per idempotency key. Also checked on a restored backup.
 */
export async function checkStoredInvariants(db: Database, violation: (message: string) => void): Promise<void> {
  // 2. No orphans, and no case without its form response (an intake is one transaction).
  const orphans: Record<string, string> = {
    'answers without a form response':
      'select a.id from answers a left join form_responses r on r.id = a.form_response_id where r.id is null',
    'form responses without a case':
      'select r.id from form_responses r left join cases c on c.id = r.case_id where c.id is null',
    'cases without a form response':
      'select c.id from cases c where not exists (select 1 from form_responses r where r.case_id = c.id)',
    'form responses without answers':
      'select r.id from form_responses r where not exists (select 1 from answers a where a.form_response_id = r.id)',
    'payments without a case':
      'select p.id from case_payments p left join cases c on c.id = p.case_id where c.id is null',
    'files without an answer': 'select f.id from files f left join answers a on a.id = f.answer_id where a.id is null',
    'patients without a case':
      'select p.id from patients p where not exists (select 1 from cases c where c.patient_id = p.id)',
    'saved payment methods without a patient':
      'select m.id from patient_payment_methods m left join patients p on p.id = m.patient_id where p.id is null',
  };
  for (const [name, sql] of Object.entries(orphans)) {
    const found = await count(db, sql);
    if (found > 0) violation(`${found} ${name}`);
  }

  // 3. One record per idempotency key.
  for (const table of ['cases', 'case_payments']) {
    const duplicated = await count(
      db,
      `select organization_id, idempotency_key from ${table} where idempotency_key is not null
        group by organization_id, idempotency_key having count(*) > 1`,
    );
    if (duplicated > 0) violation(`${duplicated} idempotency keys with two ${table} records`);
  }
}

async function checkInvariants(
  db: Database,
  fake: FakeStripeServer,
  nmi: FakeNmiServer,
  cases: AcknowledgedCase[],
  payments: AcknowledgedPayment[],
  report: CrashReport,
): Promise<void> {
  const violation = (message: string) => report.violations.push(message);

  // 1. Every acknowledged case, with its form response and all its answers.
  for (const acknowledged of cases) {
    const { rows } = await db.query<{ id: string; responses: number; answers: number }>(
      `select c.id,
              (select count(*)::int from form_responses r where r.case_id = c.id) as responses,
              (select count(*)::int from answers a join form_responses r on r.id = a.form_response_id
                where r.case_id = c.id) as answers
         from cases c where c.idempotency_key = $1`,
      [acknowledged.idempotencyKey],
    );
    const row = rows[0];
    if (!row)
      violation(`case ${acknowledged.caseId ?? `(key ${acknowledged.idempotencyKey})`} acknowledged but missing`);
    else if (acknowledged.caseId && row.id !== acknowledged.caseId)
      violation(`case of key ${acknowledged.idempotencyKey} changed id`);
    else if (row.responses !== 1 || row.answers !== ANSWERS_PER_CASE) {
      violation(`case ${row.id}: ${row.responses} form responses, ${row.answers} answers`);
    } else if (acknowledged.charged) {
      const paid = await count(
        db,
        `select 1 from case_payments where case_id = $1 and gateway = 'nmi' and status = 'PAID' and gateway_reference is not null`,
        [row.id],
      );
      if (paid !== 1) violation(`case ${row.id} paid by NMI token has ${paid} PAID NMI payments`);
    }
  }

  await checkStoredInvariants(db, violation);

  // 4 and 5. The gateway and the records agree: one hold per payment, captured at most once, never money
  // held or taken without the payment record that names it.
  const { rows: records } = await db.query<{
    id: string;
    status: string;
    gateway: string | null;
    gateway_reference: string | null;
    hold_status: string;
    amount_cents: number;
    amount_captured_cents: number;
    amount_refunded_cents: number;
  }>(
    `select id, status, gateway, gateway_reference, hold_status, amount_cents, amount_captured_cents,
            amount_refunded_cents
       from case_payments`,
  );
  const byId = new Map(records.map((row) => [row.id, row]));
  const intentsByPayment = new Map<string, string[]>();
  for (const intent of fake.paymentIntents.values()) {
    report.stripeIntentsChecked += 1;
    const metadata = (intent.metadata ?? {}) as Record<string, string>;
    const paymentId = metadata.care360_case_payment_id;
    const status = String(intent.status);
    const moved = status === 'requires_capture' || status === 'succeeded';
    if (!paymentId) {
      if (moved) violation(`Stripe ${String(intent.id)} (${status}) names no case payment`);
      continue;
    }
    intentsByPayment.set(paymentId, [...(intentsByPayment.get(paymentId) ?? []), String(intent.id)]);
    const record = byId.get(paymentId);
    if (!record) {
      if (moved) violation(`Stripe ${String(intent.id)} (${status}) has no payment record ${paymentId}`);
      continue;
    }
    if (record.gateway_reference !== intent.id) {
      if (moved) violation(`payment ${paymentId} does not record Stripe ${String(intent.id)} (${status})`);
      continue;
    }
    const expected: Record<string, string> = {
      requires_capture: 'HELD',
      succeeded: 'CAPTURED',
      canceled: 'RELEASED',
    };
    if (record.hold_status === 'NONE' && status === 'succeeded') {
      // A charge on approval: no hold, the payment itself is paid (or refunded since).
      if (record.status !== 'PAID' && record.status !== 'REFUND')
        violation(`payment ${paymentId} is ${record.status} but Stripe ${String(intent.id)} charged it`);
    } else if (expected[status] && record.hold_status !== expected[status]) {
      violation(`payment ${paymentId} is ${record.hold_status} but Stripe ${String(intent.id)} is ${status}`);
    }
    if (status === 'succeeded' && Number(intent.amount_received) !== record.amount_captured_cents) {
      violation(
        `payment ${paymentId}: captured ${record.amount_captured_cents} recorded, ${String(intent.amount_received)} at Stripe`,
      );
    }
    const captures = fake.calls.filter(
      (call) =>
        call.method === 'POST' && call.path === `/v1/payment_intents/${String(intent.id)}/capture` && !call.replayed,
    );
    if (captures.length > 1)
      violation(`Stripe ${String(intent.id)} was sent ${captures.length} captures (not replays)`);
  }
  for (const [paymentId, intents] of intentsByPayment) {
    if (intents.length > 1) violation(`payment ${paymentId} has ${intents.length} Stripe holds: ${intents.join(', ')}`);
  }
  // Refunds: each Stripe refund recorded once, on its payment, and the payment's refunded amount is their sum.
  const { rows: refundRows } = await db.query<{
    case_payment_id: string;
    gateway_reference: string | null;
    status: string;
    gateway: string | null;
  }>(
    `select r.case_payment_id, r.gateway_reference, r.status, p.gateway
       from case_payment_refunds r join case_payments p on p.id = r.case_payment_id`,
  );
  const refundedAtStripe = new Map<string, number>();
  for (const refund of fake.refunds.values()) {
    report.stripeRefundsChecked += 1;
    const intent = fake.paymentIntents.get(String(refund.payment_intent));
    const paymentId = ((intent?.metadata ?? {}) as Record<string, string>).care360_case_payment_id ?? '';
    refundedAtStripe.set(paymentId, (refundedAtStripe.get(paymentId) ?? 0) + Number(refund.amount));
    const recorded = refundRows.filter(
      (row) => row.gateway_reference === refund.id && row.case_payment_id === paymentId && row.status === 'succeeded',
    );
    if (recorded.length !== 1)
      violation(`Stripe refund ${String(refund.id)} of payment ${paymentId} has ${recorded.length} refund records`);
  }
  for (const row of refundRows) {
    if (row.gateway !== 'stripe') continue; // NMI's refunds are compared with its transactions below
    if (row.status === 'succeeded' && !(row.gateway_reference && fake.refunds.has(row.gateway_reference)))
      violation(`refund record of payment ${row.case_payment_id} names no Stripe refund (${row.gateway_reference})`);
  }
  for (const record of records) {
    if (record.gateway !== 'stripe') continue; // NMI's refunds are compared with its transactions below
    if ((refundedAtStripe.get(record.id) ?? 0) !== record.amount_refunded_cents) {
      violation(
        `payment ${record.id}: ${record.amount_refunded_cents} refunded recorded, ${refundedAtStripe.get(record.id) ?? 0} at Stripe`,
      );
    }
  }
  // The approval job left nothing half done.
  const unsettled = await count(db, "select 1 from payment_approval_charges where status = 'pending'");
  if (unsettled > 0) violation(`${unsettled} approval job records still pending after the last server`);

  for (const record of records) {
    if (record.amount_captured_cents > record.amount_cents) violation(`payment ${record.id} captured more than held`);
    if (record.hold_status === 'PENDING') violation(`payment ${record.id} left PENDING after its client retried`);
  }

  // NMI has no idempotency key: our key travels as orderid. One sale per orderid, each recorded and
  // attached to the case it paid for (a charge whose case was never written is an orphan to refund).
  const salesByOrder = new Map<string, string[]>();
  report.nmiLookups = nmi.queries.length;
  report.nmiLookupsFound = nmi.queryHits;
  for (const transaction of nmi.transactions.values()) {
    report.nmiTransactionsChecked += 1;
    const order = transaction.orderId ?? '(none)';
    salesByOrder.set(order, [...(salesByOrder.get(order) ?? []), transaction.id]);
  }
  for (const [order, transactions] of salesByOrder) {
    if (transactions.length > 1)
      violation(`NMI order ${order} was charged ${transactions.length} times: ${transactions.join(', ')}`);
    const intakeCharge = /^care360:intake-charge:([0-9a-f-]{36}):sale$/.exec(order)?.[1];
    // A hold, or a charge on approval (a later round after a replaced card names its round).
    const hold = /^care360:case-payment:([0-9a-f-]{36}):(?:hold|approval-charge(?:-round-\d+)?)$/.exec(order)?.[1];
    for (const transaction of transactions) {
      // An intake's sale: its record, attached to the case, and the case payment naming the charge.
      // A hold or an approval charge on a card saved in NMI's vault: the case payment naming it.
      const recorded = intakeCharge
        ? await count(
            db,
            `select 1 from gateway_intents i join case_payments p on p.case_id = i.case_id and p.gateway_reference = $2
              where i.id = $1 and i.gateway_intent_id = $2`,
            [intakeCharge, transaction],
          )
        : hold
          ? await count(db, 'select 1 from case_payments where id = $1 and gateway_reference = $2', [hold, transaction])
          : 0;
      // Or an intake's sale undone because its case was not written: voided, or refunded in full, at NMI, and
      // its record closed with what was done.
      const charge = nmi.transactions.get(transaction);
      const undone =
        intakeCharge && charge && (charge.state === 'voided' || charge.refundedCents === charge.capturedCents)
          ? await count(
              db,
              `select 1 from gateway_intents where id = $1 and gateway_intent_id = $2 and case_id is null
                 and status = $3`,
              [intakeCharge, transaction, charge.state === 'voided' ? 'voided' : 'refunded'],
            )
          : 0;
      if (recorded !== 1 && undone !== 1)
        violation(`NMI transaction ${transaction} (orderid ${order}) has no payment record naming it`);
    }
  }
  // An NMI hold and its record agree, as Stripe's do: held, captured (the same amount) or voided.
  const nmiHoldStatus = { authorized: 'HELD', settled: 'CAPTURED', voided: 'RELEASED' } as const;
  for (const transaction of nmi.transactions.values()) {
    if (transaction.type !== 'auth') continue;
    const record = records.find((row) => row.gateway_reference === transaction.id);
    if (!record) continue; // reported above
    if (record.hold_status !== nmiHoldStatus[transaction.state]) {
      violation(`payment ${record.id} is ${record.hold_status} but NMI ${transaction.id} is ${transaction.state}`);
    } else if (transaction.state === 'settled' && transaction.capturedCents !== record.amount_captured_cents) {
      violation(
        `payment ${record.id}: captured ${record.amount_captured_cents} recorded, ${transaction.capturedCents} at NMI`,
      );
    }
  }
  // A case payment's NMI charge (a hold captured, or a charge on approval) and its refunds: refunded as recorded.
  for (const transaction of nmi.transactions.values()) {
    const record = records.find((row) => row.gateway === 'nmi' && row.gateway_reference === transaction.id);
    if (record && transaction.refundedCents !== record.amount_refunded_cents) {
      violation(
        `payment ${record.id}: ${record.amount_refunded_cents} refunded recorded, ${transaction.refundedCents} at NMI`,
      );
    }
  }

  // What the clients were told matches what is stored.
  for (const payment of payments) {
    const record = byId.get(payment.paymentId);
    if (!record) {
      violation(`acknowledged payment ${payment.paymentId} missing`);
      continue;
    }
    const expected = { held: 'HELD', captured: 'CAPTURED', released: 'RELEASED', charged: 'NONE' }[payment.outcome];
    if (record.hold_status !== expected)
      violation(`payment ${payment.paymentId}: told ${expected}, stored ${record.hold_status}`);
    if (payment.outcome === 'charged' && record.amount_captured_cents !== payment.amountCents)
      violation(`payment ${payment.paymentId}: charged on approval, ${record.amount_captured_cents} captured stored`);
    if ((payment.refundedCents ?? 0) !== record.amount_refunded_cents) {
      violation(
        `payment ${payment.paymentId}: told ${payment.refundedCents ?? 0} refunded, stored ${record.amount_refunded_cents}`,
      );
    }
    if (payment.outcome === 'captured' && record.amount_captured_cents !== payment.capturedCents) {
      violation(
        `payment ${payment.paymentId}: told ${payment.capturedCents} captured, stored ${record.amount_captured_cents}`,
      );
    }
  }

  const { rows: tables } = await db.query<{ table_name: string }>(
    `select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`,
  );
  for (const { table_name: table } of tables) report.rowsChecked += await count(db, `select 1 from "${table}"`);
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export function formatReport(report: CrashReport): string {
  return [
    `engine:                              ${report.engine}`,
    `SIGKILLs survived:                   ${report.kills}`,
    `backend terminations (backends):     ${report.terminations} (${report.backendsTerminated})`,
    `server exits on a termination:       ${report.serverExits}`,
    `requests sent (retries included):    ${report.requestsSent}`,
    `requests lost to crashes, retried:   ${report.requestsLostToCrashes}`,
    `requests answered 503, retried:      ${report.requestsAnswered503}`,
    `cases acknowledged (200):            ${report.casesAcknowledged}`,
    `cases confirmed by 409 after a crash: ${report.casesConfirmedBy409}`,
    `NMI-charged intakes acknowledged:    ${report.nmiChargesAcknowledged}`,
    `holds acknowledged:                  ${report.holdsAcknowledged}`,
    `captures acknowledged:               ${report.capturesAcknowledged}`,
    `releases acknowledged:               ${report.releasesAcknowledged}`,
    `cases approved / rejected by staff:  ${report.approvals} / ${report.rejections}`,
    `refunds acknowledged:                ${report.refundsAcknowledged}`,
    `Stripe refunds checked:              ${report.stripeRefundsChecked}`,
    `Stripe payment intents checked:      ${report.stripeIntentsChecked}`,
    `NMI transactions checked:            ${report.nmiTransactionsChecked}`,
    `NMI retries looked up (found):       ${report.nmiLookups} (${report.nmiLookupsFound})`,
    `rows checked:                        ${report.rowsChecked}`,
    `webhook events checked (duplicates): ${report.webhookEventsChecked} (${report.webhookDuplicates})`,
    `invariant violations:                ${report.violations.length === 0 ? 'none' : report.violations.length}`,
    ...report.violations.map((violation) => `  - ${violation}`),
  ].join('\n');
}
