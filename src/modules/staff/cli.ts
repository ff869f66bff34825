import type { Command } from 'commander';
import type { Database } from '../../db/database.ts';
import { ApiError } from '../../http/api-error.ts';
import { Tenant } from '../../http/gate.ts';
import type { Services } from '../../services.ts';
import { isUuid } from '../../uuid.ts';
import { OrganizationRepository } from '../organizations/repository.ts';
import { AutoAssignmentSettingsRepository } from './auto-assignment.ts';
import { STAFF_ROLES, type StaffRole } from './roles.ts';

type WithServices = (work: (services: Services, db: Database) => Promise<void>) => Promise<void>;
type Print = (value: unknown) => void;

const list = (value: string | undefined): string[] | undefined =>
  value === undefined
    ? undefined
    : value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);

/**
 * `staff create|list|disable|reset-password|auto-assignment`. A password is never taken on the command line (it would stay in
 * the shell's history): create and reset-password print a one-time set-password token valid 24 hours.
 */
export function registerStaffCommands(program: Command, withServices: WithServices, print: Print): void {
  const staff = program.command('staff').description("the clinic's staff accounts");
  staff
    .command('create')
    .requiredOption('--email <email>')
    .requiredOption('--first-name <name>')
    .requiredOption('--last-name <name>')
    .requiredOption('--role <role>', STAFF_ROLES.join(' | '))
    .option('--organizations <ids>', 'comma-separated organization ids (default: every organization)')
    .option('--title <title>', 'PROVIDER: e.g. MD, NP')
    .option('--npi <npi>', 'PROVIDER: National Provider Identifier')
    .option('--dea <dea>', 'PROVIDER: DEA registration number')
    .option('--states <codes>', 'PROVIDER: comma-separated state codes they are licensed in')
    .description('create a staff member and print a one-time set-password token (valid 24 hours)')
    .action(
      (options: {
        email: string;
        firstName: string;
        lastName: string;
        role: string;
        organizations?: string;
        title?: string;
        npi?: string;
        dea?: string;
        states?: string;
      }) =>
        withServices(async (services) => {
          const role = options.role.toUpperCase();
          if (!(STAFF_ROLES as readonly string[]).includes(role)) {
            throw new ApiError(400, `--role: one of ${STAFF_ROLES.join(', ')}`);
          }
          if (!/^[^\s@]+@[^\s@]+$/.test(options.email.trim())) throw new ApiError(400, '--email: not an email address');
          const created = await services.staff.create({
            email: options.email,
            firstName: options.firstName,
            lastName: options.lastName,
            role: role as StaffRole,
            organizationIds: list(options.organizations),
            title: options.title,
            npi: options.npi,
            dea: options.dea,
            licensedStates: list(options.states),
          });
          print({ ...created.staff, setPassword: created.setPassword });
        }),
    );
  staff
    .command('list')
    .description('list staff members (never a password or second-factor secret)')
    .action(() => withServices(async (services) => print(await services.staff.list())));
  staff
    .command('disable')
    .argument('<staffId>')
    .description('disable a staff member and end their sessions')
    .action((staffId: string) => withServices(async (services) => print(await services.staff.disable(staffId))));
  staff
    .command('reset-password')
    .argument('<staffId>')
    .description('print a new one-time set-password token (valid 24 hours)')
    .action((staffId: string) =>
      withServices(async (services) => print({ setPassword: await services.staff.resetPassword(staffId) })),
    );
  staff
    .command('auto-assignment')
    .argument('<organizationId>')
    .option('--on', 'assign new OPEN cases to the licensed providers in turn')
    .option('--off', 'leave new cases in the queue (the default)')
    .option('--max-open-cases <n>', 'the open cases a provider may hold (1 to 10000)')
    .description("show or change an organization's auto-assignment (docs/api/staff.md#auto-assignment)")
    .action((organizationId: string, options: { on?: boolean; off?: boolean; maxOpenCases?: string }) =>
      withServices(async (_services, db) => {
        if (options.on && options.off) throw new ApiError(400, '--on and --off: one of them');
        const max = options.maxOpenCases;
        if (max !== undefined && !(/^\d{1,5}$/.test(max) && Number(max) >= 1 && Number(max) <= 10000)) {
          throw new ApiError(400, '--max-open-cases: a whole number from 1 to 10000');
        }
        if (!isUuid(organizationId) || !(await new OrganizationRepository(db).exists(organizationId))) {
          throw new ApiError(404, 'Organization not found');
        }
        const settings = new AutoAssignmentSettingsRepository(
          db,
          Tenant.forOperator(organizationId, 'the operator names the organization on the command line'),
        );
        const changes = {
          ...(options.on ? { enabled: true } : options.off ? { enabled: false } : {}),
          ...(max === undefined ? {} : { maxOpenCases: Number(max) }),
        };
        const result = Object.keys(changes).length > 0 ? await settings.update(changes) : await settings.get();
        print({ organizationId, ...result });
      }),
    );
}
