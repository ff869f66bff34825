import { z } from 'zod';
import { MAKE_KEY_HINT } from './crypto/phi.ts';

/** A PHI encryption key: 32 bytes, as 64 hex characters or base64. */
const phiKey = z
  .string()
  .refine(
    (value) => /^[0-9a-fA-F]{64}$/.test(value.trim()) || Buffer.from(value.trim(), 'base64').length === 32,
    `must be 32 bytes as 64 hex characters or base64 (${MAKE_KEY_HINT})`,
  );

/** Environment -> typed, validated configuration. Every setting has a default but the secrets. */
const environmentSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  ADMIN_TOKEN: z.string().min(1).optional(),
  BOOTSTRAP_API_KEY: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(10 * 1024 * 1024),
  AUTH_FAILURE_LIMIT: z.coerce.number().int().min(1).default(20),
  AUTH_FAILURE_WINDOW_SECONDS: z.coerce.number().int().min(1).default(60),
  TRUST_PROXY: z.string().optional(),
  // Rate limits (docs/api/limits-and-audit.md): requests per window; 0 turns a limit off.
  RATE_LIMIT_PER_KEY: z.coerce.number().int().min(0).default(600),
  RATE_LIMIT_PER_ADDRESS: z.coerce.number().int().min(0).default(1200),
  RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).default(60),
  // Longest a request may take to arrive, and to be handled, before it is answered 503 (milliseconds).
  REQUEST_TIMEOUT_MS: z.coerce.number().int().min(1000).default(30_000),
  // Counters shared by every server process (rate limits, failed authentications); in memory when unset.
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_KEY_PREFIX: z.string().max(100).default('care360:'),
  // Payments: Stripe when STRIPE_SECRET_KEY is set, else the simulated gateway; NMI when NMI_SECURITY_KEY is set.
  STRIPE_SECRET_KEY: z.string().min(1).optional(),
  STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
  STRIPE_API_URL: z.url({ protocol: /^https?$/ }).optional(),
  STRIPE_TIMEOUT_MS: z.coerce.number().int().min(1).default(20_000),
  STRIPE_MAX_NETWORK_RETRIES: z.coerce.number().int().min(0).max(10).default(2),
  NMI_SECURITY_KEY: z.string().min(1).optional(),
  // The keys a storefront's browser uses (GET /api/v1/payments/config): Stripe.js's and NMI Collect.js's.
  STRIPE_PUBLISHABLE_KEY: z
    .string()
    .regex(/^pk_(test|live)_\w+$/, 'must be a Stripe publishable key (pk_test_... or pk_live_...)')
    .optional(),
  NMI_TOKENIZATION_KEY: z.string().min(1).max(200).optional(),
  NMI_API_URL: z.url({ protocol: /^https?$/ }).default('https://secure.nmi.com/api/transact.php'),
  NMI_TIMEOUT_MS: z.coerce.number().int().min(1).default(20_000),
  // NMI's Query API, asked before a retried charge or hold is sent again; default: NMI_API_URL with query.php.
  NMI_QUERY_URL: z.url({ protocol: /^https?$/ }).optional(),
  // Intake (docs/api/intake.md): the PHI key (32 bytes, hex or base64; required with DATABASE_URL, else
  // DATA_DIR/phi.key by default), keys that still decrypt while `phi rotate` runs, and file limits.
  PHI_ENCRYPTION_KEY: phiKey.optional(),
  PHI_ENCRYPTION_OLD_KEYS: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((key) => key.trim())
        .filter(Boolean),
    )
    .pipe(z.array(phiKey))
    .optional(),
  FILE_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(5 * 1024 * 1024),
  FILES_MAX_PER_ANSWER: z.coerce.number().int().min(1).default(10),
  FILES_MAX_TOTAL_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(7 * 1024 * 1024),
  // Outbound webhooks (docs/api/webhooks.md): `true` lets endpoints use http:// and loopback or private addresses
  // (development and tests); by default only https:// URLs of public addresses are accepted and sent to.
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: z.enum(['true', 'false']).default('false'),
  // How long a receiver has to answer a delivery with a 2xx; a claimed delivery is leased for three times as long
  // and half a minute more, the time after which another process sends it when this one died mid-delivery.
  WEBHOOK_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(10).default(10),
  // Deliveries each process sends at once (each to its own case). A send holds no database connection, only a
  // socket: a slow receiver ties up one slot for at most WEBHOOK_TIMEOUT_SECONDS. The worker's statements are
  // per batch of sends, so more slots cost sockets, not statements (docs/performance.md).
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(64),
  // Where partners reach this server (https://care360.example.com): webhook payloads with documentFormat URL link
  // to attachments under it. Unset: http://localhost:PORT, which only a receiver on this machine can follow.
  PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  // Observability (docs/operations.md): GET /metrics for a bearer of METRICS_TOKEN, and/or on 127.0.0.1:METRICS_PORT.
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  // OpenTelemetry traces, sent by OTLP/HTTP (JSON) to <endpoint>/v1/traces; off when unset.
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
});

export type Config = {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  databasePoolSize: number;
  adminToken: string | undefined;
  bootstrapApiKey: string | undefined;
  logLevel: z.infer<typeof environmentSchema>['LOG_LEVEL'];
  bodyLimitBytes: number;
  authFailureLimit: number;
  authFailureWindowSeconds: number;
  /** Whose X-Forwarded-For to believe for the client address (Fastify's trustProxy); false: nobody's. */
  trustProxy: boolean | number | string[];
  limits: LimitsConfig;
  payments: PaymentsConfig;
  intake: IntakeConfig;
  observability: ObservabilityConfig;
  webhooks: {
    allowPrivateNetworks: boolean;
    timeoutMs: number;
    /** Deliveries sent at once by this process. */
    concurrency: number;
    /** Where partners reach this server, without a trailing slash: attachment links in webhook payloads. */
    publicUrl: string;
  };
};

/** Metrics and traces (docs/operations.md); metrics are collected only when one of their two doors is set. */
export interface ObservabilityConfig {
  metricsToken: string | undefined;
  /** A second listener on 127.0.0.1 that serves only GET /metrics, without a token. */
  metricsPort: number | undefined;
  otlpEndpoint: string | undefined;
}

/** Case intake (docs/api/intake.md). */
export interface IntakeConfig {
  /** The PHI encryption key as configured (hex or base64); undefined: the key file DATA_DIR/phi.key. */
  phiEncryptionKey: string | undefined;
  /** Keys that still decrypt what was sealed under them, until `phi rotate` has sealed it again. */
  phiEncryptionOldKeys: string[];
  fileMaxBytes: number;
  filesMaxPerAnswer: number;
  filesMaxTotalBytes: number;
}

export interface PaymentsConfig {
  stripeSecretKey: string | undefined;
  stripeWebhookSecret: string | undefined;
  stripeApiUrl: string | undefined;
  stripeTimeoutMs: number;
  stripeMaxNetworkRetries: number;
  nmiSecurityKey: string | undefined;
  nmiApiUrl: string;
  nmiTimeoutMs: number;
  nmiQueryUrl: string | undefined;
  stripePublishableKey: string | undefined;
  nmiTokenizationKey: string | undefined;
}

/** Rate limits, the request time limit and the Redis that shares counters (docs/api/limits-and-audit.md). */
export interface LimitsConfig {
  rateLimitPerKey: number;
  rateLimitPerAddress: number;
  rateLimitWindowSeconds: number;
  requestTimeoutMs: number;
  redisUrl: string | undefined;
  redisKeyPrefix: string;
  /**
   * The most cases the staff queue counts per status (docs/api/staff.md): a larger count answers as the cap,
   * flagged, so the queue's counts read at most this many cases per status at any size. Not an environment
   * setting: tests lower it.
   */
  queueCountCap: number;
}

export class ConfigError extends Error {}

/** Empty strings count as unset, so `FOO=` in an .env file means "use the default". */
export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(
    Object.entries(environment).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = environmentSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${plainMessage(issue)}`);
    throw new ConfigError(
      `Invalid configuration: ${problems.join('; ')}. Correct these settings, or unset them for their defaults ` +
        '(.env.example lists them).',
    );
  }
  const env = parsed.data;
  return {
    port: env.PORT,
    host: env.HOST,
    dataDir: env.DATA_DIR,
    databaseUrl: env.DATABASE_URL,
    databasePoolSize: env.DATABASE_POOL_SIZE,
    adminToken: env.ADMIN_TOKEN,
    bootstrapApiKey: env.BOOTSTRAP_API_KEY,
    logLevel: env.LOG_LEVEL,
    bodyLimitBytes: env.BODY_LIMIT_BYTES,
    authFailureLimit: env.AUTH_FAILURE_LIMIT,
    authFailureWindowSeconds: env.AUTH_FAILURE_WINDOW_SECONDS,
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    limits: {
      rateLimitPerKey: env.RATE_LIMIT_PER_KEY,
      rateLimitPerAddress: env.RATE_LIMIT_PER_ADDRESS,
      rateLimitWindowSeconds: env.RATE_LIMIT_WINDOW_SECONDS,
      requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
      redisUrl: env.REDIS_URL,
      redisKeyPrefix: env.REDIS_KEY_PREFIX,
      queueCountCap: 1000,
    },
    payments: {
      stripeSecretKey: env.STRIPE_SECRET_KEY,
      stripeWebhookSecret: env.STRIPE_WEBHOOK_SECRET,
      stripeApiUrl: env.STRIPE_API_URL,
      stripeTimeoutMs: env.STRIPE_TIMEOUT_MS,
      stripeMaxNetworkRetries: env.STRIPE_MAX_NETWORK_RETRIES,
      nmiSecurityKey: env.NMI_SECURITY_KEY,
      nmiApiUrl: env.NMI_API_URL,
      nmiTimeoutMs: env.NMI_TIMEOUT_MS,
      nmiQueryUrl: env.NMI_QUERY_URL,
      stripePublishableKey: env.STRIPE_PUBLISHABLE_KEY,
      nmiTokenizationKey: env.NMI_TOKENIZATION_KEY,
    },
    intake: {
      phiEncryptionKey: env.PHI_ENCRYPTION_KEY,
      phiEncryptionOldKeys: env.PHI_ENCRYPTION_OLD_KEYS ?? [],
      fileMaxBytes: env.FILE_MAX_BYTES,
      filesMaxPerAnswer: env.FILES_MAX_PER_ANSWER,
      filesMaxTotalBytes: env.FILES_MAX_TOTAL_BYTES,
    },
    observability: {
      metricsToken: env.METRICS_TOKEN,
      metricsPort: env.METRICS_PORT,
      otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
    },
    webhooks: {
      allowPrivateNetworks: env.WEBHOOK_ALLOW_PRIVATE_NETWORKS === 'true',
      timeoutMs: env.WEBHOOK_TIMEOUT_SECONDS * 1000,
      concurrency: env.WEBHOOK_CONCURRENCY,
      publicUrl: (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, ''),
    },
  };
}

/** Zod's words for a number setting ("expected number, received NaN") in an operator's. */
function plainMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && (issue.expected === 'number' || issue.expected === 'int')) {
    return 'must be a whole number';
  }
  if (issue.code === 'too_small' && issue.origin === 'number') return `must be at least ${issue.minimum}`;
  if (issue.code === 'too_big' && issue.origin === 'number') return `must be at most ${issue.maximum}`;
  return issue.message;
}

/**
 * TRUST_PROXY: unset or `false`: the socket address is the client (no proxy); `true`: trust every proxy;
 * a whole number: trust that many hops; otherwise a comma-separated list of proxy addresses or CIDR ranges.
 */
function parseTrustProxy(value: string | undefined): boolean | number | string[] {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) return Number(value);
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
}
