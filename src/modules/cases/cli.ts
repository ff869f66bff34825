import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import type { Database } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { Tenant } from '../../http/gate.ts';
import type { Services } from '../../services.ts';
import { isUuid } from '../../uuid.ts';
import type { CaseReader } from './lifecycle/case-serializer.ts';
import { caseStatusesOf } from './lifecycle/read-schemas.ts';
import { MAX_LIST_RANGE_DAYS } from './lifecycle/read-service.ts';
import { auditOperatorReads, OPERATOR_READ } from './operator-reads.ts';

type WithServices = (work: (services: Services, db: Database) => Promise<void>) => Promise<void>;
type Print = (value: unknown) => void;

const DAY_MS = 86_400_000;

/** An operator reads any organization's cases: the gate's named cross-organization entry. */
const operatorReader = (organizationId: string): CaseReader => ({
  tenant: Tenant.forOperator(organizationId, "an operator command reads an organization's cases"),
  apiKeyId: 'operator',
  baseUrl: 'http://localhost',
});

/** The case a command names by id or short id (`ADA-TOSXM`), with its organization; `org` narrows a short id. */
async function findCase(db: Database, target: string, org?: string): Promise<{ id: string; organization_id: string }> {
  const shortId = target.trim().toUpperCase();
  const byId = isUuid(target);
  const { rows } = await db.query<{ id: string; organization_id: string }>(
    `select id, organization_id from cases
      where ${byId ? 'id = $1::uuid' : 'short_id = $1'} and ($2::uuid is null or organization_id = $2::uuid)
      limit 2`,
    [byId ? target.toLowerCase() : shortId, org ?? null],
  );
  if (rows.length === 0) throw new ApiError(404, `No case ${target}`);
  if (rows.length > 1) throw new ApiError(400, `Several organizations have a case ${target}: name one with --org`);
  return rows[0]!;
}

/** Every case an operator command shows is audited as a read of that case, by no API key. */
function auditReads(services: Services, organizationId: string, caseIds: readonly string[], command: string): void {
  auditOperatorReads(services.audit, {
    organizationId,
    caseIds,
    requestId: `cli ${command} ${randomUUID()}`,
    clientAddress: null,
  });
}

function dateOf(value: string | undefined, option: string, fallback: Date): Date {
  if (value === undefined) return fallback;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new ApiError(400, `${option} must be an ISO 8601 date`);
  return date;
}

/** `case show` and `case list`: the case object of the partner API, for operators, audited. */
export function registerCaseCommands(program: Command, withServices: WithServices, print: Print): void {
  const cases = program.command('case').description("read any organization's cases (audited)");
  cases
    .command('show')
    .argument('<case>', 'case id or short id (e.g. ADA-TOSXM)')
    .option('--org <organizationId>', 'the organization, when several have this short id')
    .description('print a case as the case detail shows it (PHI decrypted; the read is audited)')
    .action((target: string, options: { org?: string }) =>
      withServices(async (services, db) => {
        const found = await findCase(db, target, options.org);
        const detail = await services.caseReads.detail(
          operatorReader(found.organization_id),
          { caseId: found.id },
          OPERATOR_READ,
        );
        auditReads(services, found.organization_id, [found.id], 'case show');
        await services.audit.flush();
        print({ organizationId: found.organization_id, case: detail });
      }),
    );
  cases
    .command('list')
    .argument('<organizationId>')
    .option('--start <time>', 'ISO 8601; default: the end less 60 days')
    .option('--end <time>', 'ISO 8601; default: now')
    .option('--status <statuses>', 'comma-separated statuses')
    .option('--limit <n>', 'cases per page (at most 100)', '20')
    .option('--after <caseId>', 'the last case id of the previous page')
    .description("one page of an organization's cases, oldest first (each case shown is audited)")
    .action(
      (
        organizationId: string,
        options: { start?: string; end?: string; status?: string; limit: string; after?: string },
      ) =>
        withServices(async (services) => {
          if (!isUuid(organizationId)) throw new ApiError(400, 'organizationId must be a UUID');
          const endTime = dateOf(options.end, '--end', new Date());
          const startTime = dateOf(
            options.start,
            '--start',
            new Date(endTime.getTime() - MAX_LIST_RANGE_DAYS * DAY_MS),
          );
          if (endTime.getTime() - startTime.getTime() > MAX_LIST_RANGE_DAYS * DAY_MS) {
            throw new ApiError(400, `The range may cover at most ${MAX_LIST_RANGE_DAYS} days`);
          }
          const limit = Number(options.limit);
          if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
            throw new ApiError(400, '--limit must be a whole number from 1 to 100');
          }
          const page = await services.caseReads.list(
            operatorReader(organizationId),
            {
              startTime,
              endTime,
              statuses: caseStatusesOf(options.status),
              after: options.after,
              recordsPerPage: limit,
            },
            OPERATOR_READ,
          );
          auditReads(
            services,
            organizationId,
            page.cases.map((listed) => listed.id),
            'case list',
          );
          await services.audit.flush();
          print(page);
        }),
    );
}
