import type { Command } from 'commander';
import { ApiError } from '../../http/api-error.ts';
import type { Services } from '../../services.ts';
import { STAFF_ROLES, type StaffRole } from './roles.ts';

type WithServices = (work: (services: Services) => Promise<void>) => Promise<void>;
type Print = (value: unknown) => void;

const list = (value: string | undefined): string[] | undefined =>
  value === undefined
    ? undefined
    : value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);

/**
 * `staff create|list|disable|reset-password`. A password is never taken on the command line (it would stay in
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
}
