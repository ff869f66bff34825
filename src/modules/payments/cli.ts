import type { Command } from 'commander';
import type { Services } from '../../services.ts';
import { ApiError } from '../../http/api-error.ts';
import { Tenant } from '../../http/gate.ts';
import { centsToDecimalString, optionalDollarsToCents } from '../../money.ts';
import { bundleJson, productJson } from '../products/views.ts';
import { promoJson } from '../promo-codes/views.ts';
import { GATEWAY_CREDENTIAL_NAMES, gatewayCredentialsBody, type GatewayCredentialsInput } from './credentials.ts';
import type { RefundWithPayment } from './refunds.ts';

type WithServices = (work: (services: Services) => Promise<void>) => Promise<void>;
type Print = (value: unknown) => void;

function positiveInteger(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) throw new ApiError(400, `${option} must be a positive whole number`);
  return number;
}

/** One credential as the admin API's body has it, checked by the same rules. */
function credentialInput(name: string, value: string | null): GatewayCredentialsInput {
  if (!(GATEWAY_CREDENTIAL_NAMES as readonly string[]).includes(name)) {
    throw new ApiError(400, `<name> must be one of ${GATEWAY_CREDENTIAL_NAMES.join(', ')}`);
  }
  const parsed = gatewayCredentialsBody.safeParse({ [name]: value });
  if (!parsed.success) throw new ApiError(400, `${name}: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

async function readStandardInput(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `settle-refund`'s one outcome: made, with the gateway's id of the refund, or never made. */
function refundOutcome(options: { made?: string; neverMade?: boolean }) {
  const reference = options.made?.trim();
  if (options.made !== undefined && options.neverMade) throw new ApiError(400, 'Give --made or --never-made, not both');
  if (options.neverMade) return { made: false as const };
  if (!reference || reference.length > 200) {
    throw new ApiError(400, "Give --made <gatewayRefundId> (the refund's id at the gateway) or --never-made");
  }
  return { made: true as const, gatewayReference: reference };
}

const refundJson = (refund: RefundWithPayment) => ({
  refundId: refund.id,
  caseId: refund.case_id,
  paymentId: refund.case_payment_id,
  amount: centsToDecimalString(refund.amount_cents),
  status: refund.status,
  gatewayReference: refund.gateway_reference,
  failureMessage: refund.failure_message,
});

/** An operator command names the organization it acts for as its argument. */
const organizationOfCommand = (organizationId: string) =>
  Tenant.forOperator(organizationId, 'an operator command names the organization');

/** Operator commands for product bundles, products, promo codes and payment holds. */
export function registerPaymentCommands(program: Command, withServices: WithServices, print: Print): void {
  const bundles = program.command('bundle').description('product bundles');
  bundles
    .command('create')
    .argument('<organizationId>')
    .argument('<name>')
    .requiredOption('--price <dollars>', 'price in dollars, e.g. 99.99')
    .option('--description <text>')
    .option('--image-url <url>')
    .option('--initial-discount <dollars>')
    .option('--price-unit <currency>', 'ISO 4217 code', 'USD')
    .option('--hidden', 'not visible to patients')
    .option('--sold-out')
    .description('create a product bundle')
    .action(
      (
        organizationId: string,
        name: string,
        options: {
          price: string;
          description?: string;
          imageUrl?: string;
          initialDiscount?: string;
          priceUnit: string;
          hidden?: boolean;
          soldOut?: boolean;
        },
      ) =>
        withServices(async (services) =>
          print(
            bundleJson(
              await services.products.createBundle(organizationOfCommand(organizationId), {
                name,
                priceCents: optionalDollarsToCents(options.price, '--price')!,
                description: options.description ?? null,
                imageUrl: options.imageUrl ?? null,
                initialDiscountCents: optionalDollarsToCents(options.initialDiscount, '--initial-discount'),
                priceUnit: options.priceUnit.toUpperCase(),
                isVisible: !options.hidden,
                isSoldOut: Boolean(options.soldOut),
              }),
            ),
          ),
        ),
    );
  bundles
    .command('list')
    .argument('<organizationId>')
    .description("list an organization's product bundles")
    .action((organizationId: string) =>
      withServices(async (services) =>
        print((await services.products.listBundles(organizationOfCommand(organizationId))).map(bundleJson)),
      ),
    );

  const products = program.command('product').description('products');
  products
    .command('create')
    .argument('<organizationId>')
    .argument('<name>')
    .option('--price <dollars>')
    .option('--description <text>')
    .option('--bundle <bundleId>', 'the product bundle it belongs to')
    .description('create a product')
    .action(
      (organizationId: string, name: string, options: { price?: string; description?: string; bundle?: string }) =>
        withServices(async (services) =>
          print(
            productJson(
              await services.products.createProduct(organizationOfCommand(organizationId), {
                name,
                priceCents: optionalDollarsToCents(options.price, '--price'),
                description: options.description ?? null,
                productBundleId: options.bundle ?? null,
              }),
            ),
          ),
        ),
    );
  products
    .command('list')
    .argument('<organizationId>')
    .description("list an organization's products")
    .action((organizationId: string) =>
      withServices(async (services) =>
        print((await services.products.listProducts(organizationOfCommand(organizationId))).map(productJson)),
      ),
    );

  const payments = program.command('payments').description('case payments');
  payments
    .command('holds')
    .option('--within-hours <hours>', 'only holds that expire within this many hours')
    .description('list open holds (preauthorized, not captured or released), soonest expiry first')
    .action((options: { withinHours?: string }) =>
      withServices(async (services) =>
        print(
          (await services.payments.listHolds(positiveInteger(options.withinHours, '--within-hours') ?? null)).map(
            (row) => ({
              paymentId: row.id,
              organizationId: row.organization_id,
              caseId: row.case_id,
              gateway: row.gateway,
              amount: centsToDecimalString(row.amount_cents),
              captureBefore: row.capture_before?.toISOString() ?? null,
              createdAt: row.created_at.toISOString(),
            }),
          ),
        ),
      ),
    );

  payments
    .command('orphans')
    .option('--older-than-minutes <minutes>', 'only charges at least this old', '15')
    .option('--refund', 'refund each one in full')
    .description('intake charges (nmiPaymentToken) that never got their case, e.g. after a crash')
    .action((options: { olderThanMinutes: string; refund?: boolean }) =>
      withServices(async (services) =>
        print(
          await services.payments.orphanCharges(
            positiveInteger(options.olderThanMinutes, '--older-than-minutes') ?? 15,
            Boolean(options.refund),
          ),
        ),
      ),
    );

  payments
    .command('left-to-operator')
    .description(
      'Stripe refunds, approval charges and holds whose outcome only an operator can settle, by kind, oldest first',
    )
    .action(() =>
      withServices(async (services) => {
        const [refunds, charges, holds] = await Promise.all([
          services.refunds.leftToOperator(),
          services.approvalCharges.leftToOperator(),
          services.payments.holdsLeftToOperator(),
        ]);
        print([
          ...refunds.map((refund) => ({
            kind: 'refund',
            organizationId: refund.organization_id,
            caseId: refund.case_id,
            paymentId: refund.case_payment_id,
            refundId: refund.id,
            amount: centsToDecimalString(refund.amount_cents),
            createdAt: refund.created_at.toISOString(),
            settle: `payments settle-refund ${refund.organization_id} ${refund.id} --made <re_...> | --never-made`,
          })),
          ...charges.map((charge) => ({
            kind: 'approval-charge',
            organizationId: charge.organization_id,
            caseId: charge.case_id,
            paymentId: charge.case_payment_id,
            settle: `payments charge-again ${charge.organization_id} ${charge.case_payment_id} --nothing-charged`,
          })),
          ...holds.map((hold) => ({
            kind: 'hold',
            organizationId: hold.organization_id,
            caseId: hold.case_id,
            paymentId: hold.id,
            amount: centsToDecimalString(hold.amount_cents),
            createdAt: hold.created_at.toISOString(),
            settle: `payments settle-hold ${hold.organization_id} ${hold.id} --never-placed`,
          })),
        ]);
      }),
    );

  payments
    .command('settle-refund')
    .argument('<organizationId>')
    .argument('<refundId>')
    .option('--made <gatewayRefundId>', "the gateway made it: its id there (Stripe's re_..., NMI's transaction id)")
    .option('--never-made', 'the gateway has no such refund')
    .description('record the outcome of a pending refund, as read in the gateway (docs/operations.md)')
    .action((organizationId: string, refundId: string, options: { made?: string; neverMade?: boolean }) =>
      withServices(async (services) =>
        print(
          refundJson(
            await services.refunds.settleByOperator(
              organizationOfCommand(organizationId),
              refundId,
              refundOutcome(options),
            ),
          ),
        ),
      ),
    );

  payments
    .command('settle-hold')
    .argument('<organizationId>')
    .argument('<paymentId>')
    .requiredOption('--never-placed', 'Stripe has no PaymentIntent for this hold (look it up first)')
    .description('record as failed a Stripe hold left PENDING for a day that Stripe never placed (docs/operations.md)')
    .action((organizationId: string, paymentId: string) =>
      withServices(async (services) => {
        const row = await services.payments.settleHoldNeverPlaced(organizationOfCommand(organizationId), paymentId, {
          kind: 'operator',
          id: null,
        });
        print({
          paymentId: row.id,
          caseId: row.case_id,
          status: row.status,
          holdStatus: row.hold_status,
          failureMessage: row.failure_message,
        });
      }),
    );

  payments
    .command('charge-again')
    .argument('<organizationId>')
    .argument('<paymentId>')
    .requiredOption('--nothing-charged', 'Stripe has no charge for this payment (look it up first: a new one is made)')
    .description('charge anew a payment whose approval charge was left to an operator (docs/operations.md)')
    .action((organizationId: string, paymentId: string) =>
      withServices(async (services) =>
        print(await services.approvalCharges.chargeAgain(organizationOfCommand(organizationId), paymentId)),
      ),
    );

  const credentials = payments
    .command('gateways')
    .description("an organization's own Stripe or NMI account (credentials sealed, never shown once set)");
  credentials
    .command('show')
    .argument('<organizationId>')
    .description('which credentials are set, with their last four characters')
    .action((organizationId: string) =>
      withServices(async (services) =>
        print(await services.gatewayCredentials.describe(organizationOfCommand(organizationId))),
      ),
    );
  credentials
    .command('set')
    .argument('<organizationId>')
    .argument('<name>', GATEWAY_CREDENTIAL_NAMES.join(' | '))
    .option('--value <value>', 'the value; without it, read from standard input (kept out of the process list)')
    .description('set one credential')
    .action((organizationId: string, name: string, options: { value?: string }) =>
      withServices(async (services) => {
        const value = options.value ?? (await readStandardInput()).trim();
        print(
          await services.gatewayCredentials.update(organizationOfCommand(organizationId), credentialInput(name, value)),
        );
      }),
    );
  credentials
    .command('remove')
    .argument('<organizationId>')
    .argument('<name>', GATEWAY_CREDENTIAL_NAMES.join(' | '))
    .description("remove one credential (without its account's key, the server's account serves)")
    .action((organizationId: string, name: string) =>
      withServices(async (services) =>
        print(
          await services.gatewayCredentials.update(organizationOfCommand(organizationId), credentialInput(name, null)),
        ),
      ),
    );

  const promo = program.command('promo').description('promo codes');
  promo
    .command('create')
    .argument('<code>')
    .option('--org <organizationId>', "the organization's code (omit for a global code)")
    .option('--percent <percent>', 'percent discount, more than 0 and at most 100')
    .option('--flat <dollars>', 'flat discount in dollars')
    .option('--bundle <bundleId>', 'only for this product bundle')
    .option('--expires <iso8601>', 'expiry time')
    .option('--max-redemptions <count>')
    .description('create a promo code (exactly one of --percent and --flat)')
    .action(
      (
        code: string,
        options: {
          org?: string;
          percent?: string;
          flat?: string;
          bundle?: string;
          expires?: string;
          maxRedemptions?: string;
        },
      ) =>
        withServices(async (services) => {
          const expiresAt = options.expires ? new Date(options.expires) : null;
          if (expiresAt && Number.isNaN(expiresAt.getTime())) throw new ApiError(400, '--expires must be a date');
          print(
            promoJson(
              await services.promoCodes.create({
                organizationId: options.org ?? null,
                code,
                percentDiscount: options.percent === undefined ? undefined : Number(options.percent),
                flatDiscountCents: optionalDollarsToCents(options.flat, '--flat'),
                productBundleId: options.bundle ?? null,
                expiresAt,
                maxRedemptions: positiveInteger(options.maxRedemptions, '--max-redemptions') ?? null,
              }),
            ),
          );
        }),
    );
  promo
    .command('list')
    .option('--org <organizationId>', "an organization's codes and the global ones")
    .description('list promo codes')
    .action((options: { org?: string }) =>
      withServices(async (services) => print((await services.promoCodes.list(options.org ?? null)).map(promoJson))),
    );
  promo
    .command('disable')
    .argument('<promoCodeId>')
    .description('disable a promo code')
    .action((promoCodeId: string) =>
      withServices(async (services) => print(promoJson(await services.promoCodes.disable(promoCodeId)))),
    );
}
