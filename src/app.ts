import { randomUUID } from 'node:crypto';
import Fastify, {
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyServerOptions,
} from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import { registerAudit } from './http/audit.ts';
import { AuthFailureLimiter, registerAuthentication } from './http/gate.ts';
import { answerRouterError, registerErrorHandling } from './http/error-handler.ts';
import { registerJsonBodyParser, withOptionalBodies } from './http/json-body.ts';
import { registerHandlerTimeLimit } from './http/time-limit.ts';
import { registerOpenApi } from './http/openapi.ts';
import { answerClientError, registerSecurityHeaders } from './http/security-headers.ts';
import { RedisAuthFailureLimiter, registerRateLimits } from './http/rate-limit.ts';
import { createRedisClient, RedisCircuit } from './http/redis-circuit.ts';
import { adminAuditRoutes } from './modules/audit/admin-routes.ts';
import { adminOrganizationRoutes } from './modules/organizations/admin-routes.ts';
import { adminCaseRoutes } from './modules/cases/admin-routes.ts';
import { healthRoutes } from './modules/health/routes.ts';
import { intakeRoutes } from './modules/cases/routes.ts';
import { legacyIntakeRoutes } from './modules/cases/legacy-routes.ts';
import { caseActionRoutes } from './modules/cases/lifecycle/action-routes.ts';
import { followUpFormRoutes } from './modules/cases/lifecycle/follow-up-routes.ts';
import { userRoutes } from './modules/patients/user-routes.ts';
import { caseReadRoutes } from './modules/cases/lifecycle/read-routes.ts';
import { formRoutes } from './modules/forms/routes.ts';
import { adminStaffRoutes } from './modules/staff/admin-routes.ts';
import { adminAutoAssignmentRoutes } from './modules/staff/auto-assignment-routes.ts';
import { staffAuthRoutes } from './modules/staff/auth-routes.ts';
import { StaffCaseActions } from './modules/staff/case-actions.ts';
import { staffCaseReadRoutes } from './modules/staff/case-read-routes.ts';
import { staffCaseRoutes } from './modules/staff/case-routes.ts';
import { staffPaymentRoutes } from './modules/staff/payment-routes.ts';
import { adminPaymentRoutes } from './modules/payments/admin-routes.ts';
import { adminPhiKeyRoutes } from './modules/phi-keys/admin-routes.ts';
import { paymentConfigRoutes } from './modules/payments/config-routes.ts';
import { paymentRoutes } from './modules/payments/routes.ts';
import { testCardRoutes } from './modules/payments/test-card/routes.ts';
import { adminWebhookRoutes } from './modules/outbound-webhooks/admin-routes.ts';
import { adminProductRoutes } from './modules/products/admin-routes.ts';
import { bundleRoutes } from './modules/products/routes.ts';
import { adminPromoCodeRoutes } from './modules/promo-codes/admin-routes.ts';
import { promoCodeRoutes } from './modules/promo-codes/routes.ts';
import { webhookRoutes } from './modules/webhooks/routes.ts';
import { consoleRoutes } from './modules/console/routes.ts';
import { registerObservability } from './observability/http.ts';
import { NO_OBSERVABILITY, type Observability } from './observability/index.ts';
import { adminBackupRoutes } from './operations/backup.ts';
import { createServices, type Services } from './services.ts';
import { version } from './version.ts';

export interface AppDependencies {
  config: Config;
  db: Database;
  services?: Services;
  /** Metrics and traces, when configured (src/observability/); the same object the services were built with. */
  observability?: Observability;
  /** Fastify's logger option; tests pass false. */
  logger?: FastifyServerOptions['logger'];
}

/** TRUST_PROXY as a hop count: believe the nearest `hops` proxies (proxy-addr's function form). */
function nearestHops(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops;
}

/** A request id we accept from a caller (a proxy's) when it is plain; otherwise our own. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Never log secrets or bodies: requests are logged by method and path only (no query string). */
export function loggerOptions(level: Config['logLevel']): FastifyServerOptions['logger'] {
  return {
    level,
    redact: ['req.headers["cv-api-key"]', 'req.headers.authorization', 'req.body', 'res.body'],
    serializers: {
      req: (request: { method: string; url: string; ip?: string; id?: string }) => ({
        method: request.method,
        path: request.url.split('?')[0],
        remoteAddress: request.ip,
      }),
    },
  };
}

export async function buildApp(deps: AppDependencies): Promise<FastifyInstance> {
  const { config, db } = deps;
  const observability = deps.observability ?? NO_OBSERVABILITY;
  const services = deps.services ?? createServices(db, config, observability);

  const app = Fastify({
    logger: deps.logger ?? loggerOptions(config.logLevel),
    bodyLimit: config.bodyLimitBytes,
    // Time to receive a whole request (slow clients); the time to answer it is registerHandlerTimeLimit's.
    requestTimeout: config.limits.requestTimeoutMs,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    trustProxy: typeof config.trustProxy === 'number' ? nearestHops(config.trustProxy) : config.trustProxy,
    // The router's own refusals (a malformed or over-long path parameter).
    frameworkErrors: (error, request, routerReply) => answerRouterError(error, request, routerReply as FastifyReply),
    // What Node's HTTP parser refuses (headers or URL too large: 431) with the same headers and envelope.
    clientErrorHandler: answerClientError,
  }).withTypeProvider<ZodTypeProvider>();

  // First: its onRequest hook opens the request's span before the other hooks run.
  registerObservability(app, observability, config.observability, { auditBacklog: () => services.audit.backlog });
  app.setValidatorCompiler(withOptionalBodies(validatorCompiler));
  app.setSerializerCompiler(serializerCompiler);
  // JSON only: text/plain bodies get 415 instead of failing validation as a string.
  app.removeContentTypeParser('text/plain');
  registerJsonBodyParser(app);

  registerErrorHandling(app);
  registerHandlerTimeLimit(app, config.limits.requestTimeoutMs);
  services.requestLoad.track(app);

  // Counters shared by every server process when REDIS_URL is set (in memory while Redis does not answer);
  // in memory otherwise.
  const { limits } = config;
  const redis = limits.redisUrl ? new RedisCircuit(createRedisClient(limits.redisUrl), app.log) : undefined;
  if (redis) {
    await redis.connect();
    app.addHook('onClose', async () => void (await redis.client.quit().catch(() => redis.client.disconnect())));
  }

  registerAuthentication(app, {
    organizations: services.organizations,
    limiter: redis
      ? new RedisAuthFailureLimiter(
          redis,
          config.authFailureLimit,
          config.authFailureWindowSeconds * 1000,
          limits.redisKeyPrefix,
        )
      : new AuthFailureLimiter(config.authFailureLimit, config.authFailureWindowSeconds * 1000),
    adminToken: config.adminToken,
    staff: services.staff,
  });
  await registerRateLimits(app, {
    perKey: limits.rateLimitPerKey,
    perAddress: limits.rateLimitPerAddress,
    windowMs: limits.rateLimitWindowSeconds * 1000,
    redis,
    redisKeyPrefix: limits.redisKeyPrefix,
  });
  registerAudit(app, { auditLog: services.audit });

  registerSecurityHeaders(app);

  await registerOpenApi(app, version);
  await app.register(healthRoutes(db, redis));
  await app.register(intakeRoutes(services.intake));
  await app.register(legacyIntakeRoutes(services.intake));
  await app.register(caseReadRoutes(services.caseReads, services.audit));
  await app.register(caseActionRoutes(services.caseActions));
  await app.register(followUpFormRoutes(services.intake));
  await app.register(userRoutes(db, services.phiCipher, services.intakePayments));
  await app.register(formRoutes(services.forms));
  await app.register(promoCodeRoutes(services.promoCodes, services.products));
  await app.register(bundleRoutes(services.products));
  await app.register(paymentRoutes(services.payments, services.refunds, services.confirmations));
  await app.register(paymentConfigRoutes(config.payments, services.gatewayDirectory));
  await app.register(webhookRoutes(services.stripeWebhooks));
  await app.register(staffAuthRoutes(services.staff));
  await app.register(
    staffCaseRoutes(
      { db, caseReads: services.caseReads, auditLog: services.audit, queueCountCap: config.limits.queueCountCap },
      new StaffCaseActions(db, services.staff.repository, services.phiCipher),
    ),
  );
  await app.register(staffCaseReadRoutes({ db, caseReads: services.caseReads }));
  await app.register(staffPaymentRoutes({ db, payments: services.payments, refunds: services.refunds }));
  await app.register(consoleRoutes());
  if (services.gateways.simulated) {
    app.log.warn('payments are simulated: no STRIPE_SECRET_KEY is set, so no card is charged and no money moves');
    await app.register(testCardRoutes(db)); // the test card element that stands in for Stripe.js
  }
  if (config.adminToken) await app.register(adminApi(deps, services), { prefix: '/admin/v1' });

  return app;
}

/**
 * The operator's API (ADMIN_TOKEN), mounted under /admin/v1 only when a token is configured. Its routes act
 * across organizations: each names the organization in its path (organizationOfAdminPath).
 */
function adminApi({ config, db }: AppDependencies, services: Services): FastifyPluginAsync {
  return async (admin) => {
    await admin.register(adminOrganizationRoutes(services.organizations));
    await admin.register(adminCaseRoutes(db, services.caseReads, services.audit));
    await admin.register(adminAuditRoutes(db));
    await admin.register(adminProductRoutes(services.products));
    await admin.register(adminPromoCodeRoutes(services.promoCodes));
    await admin.register(adminPaymentRoutes(db, services.payments, services.gatewayCredentials));
    await admin.register(adminWebhookRoutes(services.webhooks));
    await admin.register(adminPhiKeyRoutes(db, services.phiCipher, config.limits.requestTimeoutMs));
    await admin.register(adminBackupRoutes(db, config.dataDir));
    await admin.register(adminStaffRoutes(services.staff));
    await admin.register(adminAutoAssignmentRoutes(db));
  };
}
