import fc from 'fast-check';
import type { ZodType } from 'zod';
import {
  ADMIN_TOKEN,
  bodyFor,
  fillPath,
  routeName,
  type OrganizationFixture,
  type RegisteredRoute,
} from './support.ts';
import type { RouteTableContext } from './support.ts';
import { seedFor } from '../support/seed.ts';

/**
 * Request fuzzing from the route schemas. For every route of the registered table (the API reference
 * pages left out), fast-check builds requests from the route's OpenAPI request schema and a valid
 * example, then mutates them: wrong types, missing and extra fields, huge strings, deep nesting,
 * unicode, edge numbers, and at the byte level duplicate keys, invalid UTF-8, truncation and wrong
 * media types. Each answer is checked: never a 5xx, an error body in one of the endpoint's documented
 * envelopes, and a rejected request leaves every table as it was.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: Json[];
  format?: string;
};

export interface FuzzRequest {
  route: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The raw body bytes, or none. */
  payload?: Buffer;
  /** What was done to it, for the report of a failure. */
  mutation: string;
}

export interface FuzzReport {
  runs: number;
  requests: number;
  byStatus: Record<string, number>;
  rejected: number;
  rowsChecked: number;
  seed: number;
  failure?: string;
}

const HUGE = 200_000;

/** Values of the wrong type, the wrong size or at the edges: what a field is set to by a mutation. */
const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -1, 1e308, -1e308, 5e-324, 2 ** 53 + 1, -(2 ** 53) - 1, 0.1 + 0.2),
  fc.constant<Json>(-0),
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom<Json>(
    '',
    ' ',
    '\u0000',
    '\uFEFF',
    '\uD800',
    '🦄'.repeat(1000),
    'x'.repeat(HUGE),
    '%00../../etc',
    'NaN',
  ),
  fc.constantFrom<Json>('1e308', '-0', '9007199254740993', 'true', 'null', '{}', '[]'),
  fc.array(fc.string(), { maxLength: 5 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
  fc.constant<Json>(Array.from({ length: 2000 }, (_, index) => index)),
);

/** A value shaped by a JSON schema (the OpenAPI request schema), sometimes valid, sometimes not. */
function fromSchema(schema: JsonSchema | undefined, depth = 0): fc.Arbitrary<Json> {
  if (!schema || depth > 3) return hostileValue;
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map((option) => fromSchema(option, depth + 1)));
  const types = [schema.type ?? []].flat();
  const options: fc.Arbitrary<Json>[] = types.map((type) => {
    switch (type) {
      case 'string':
        return schema.format === 'uuid' ? fc.uuid() : schema.format === 'email' ? fc.emailAddress() : fc.string();
      case 'number':
        return fc.double({ noNaN: true, noDefaultInfinity: true });
      case 'integer':
        return fc.integer();
      case 'boolean':
        return fc.boolean();
      case 'null':
        return fc.constant(null);
      case 'array':
        return fc.array(fromSchema(schema.items, depth + 1), { maxLength: 4 });
      case 'object':
        return fc.record(
          Object.fromEntries(
            Object.entries(schema.properties ?? {}).map(([key, value]) => [key, fromSchema(value, depth + 1)]),
          ),
          { requiredKeys: [] },
        ) as fc.Arbitrary<Json>;
      default:
        return hostileValue;
    }
  });
  return options.length > 0 ? fc.oneof(...options, hostileValue) : hostileValue;
}

/** JSON nested `depth` deep, as text (JSON.stringify would itself recurse that deep). */
function deeplyNested(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

type Mutation =
  | { kind: 'valid' }
  | { kind: 'schema'; value: Json }
  | { kind: 'drop'; index: number }
  | { kind: 'set'; index: number; name: string; value: Json }
  | { kind: 'extra'; name: string; value: Json }
  | { kind: 'nested'; index: number; value: Json }
  | { kind: 'deep'; index: number; depth: number; shape: 'array' | 'object' }
  | { kind: 'duplicate'; index: number; value: Json }
  | { kind: 'bytes'; bytes: readonly number[]; at: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'not-an-object'; value: Json }
  | { kind: 'media-type'; contentType: string };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.constant<Mutation>({ kind: 'valid' }), weight: 2 },
  { arbitrary: fc.constant<Mutation>({ kind: 'schema', value: null }), weight: 3 },
  fc.record({ kind: fc.constant('drop' as const), index: fc.nat() }),
  {
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      index: fc.nat(),
      name: fc.string(),
      value: hostileValue,
    }),
    weight: 4,
  },
  fc.record({ kind: fc.constant('extra' as const), name: fc.string({ maxLength: 30 }), value: hostileValue }),
  fc.record({ kind: fc.constant('nested' as const), index: fc.nat(), value: hostileValue }),
  fc.record({
    kind: fc.constant('deep' as const),
    index: fc.nat(),
    depth: fc.constantFrom(100, 5_000, 50_000),
    shape: fc.constantFrom('array' as const, 'object' as const),
  }),
  fc.record({ kind: fc.constant('duplicate' as const), index: fc.nat(), value: hostileValue }),
  fc.record({
    kind: fc.constant('bytes' as const),
    bytes: fc.constantFrom(
      [0xff],
      [0xfe, 0xff],
      [0xc0, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0x80],
      [0],
    ),
    at: fc.nat(),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('not-an-object' as const), value: hostileValue }),
  fc.record({
    kind: fc.constant('media-type' as const),
    contentType: fc.constantFrom(
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=latin1',
      '',
    ),
  }),
);

const pick = <T>(items: T[], index: number): T | undefined =>
  items.length === 0 ? undefined : items[index % items.length];

/** Applies a mutation to a route's example body; returns the raw bytes and a content type. */
function mutateBody(
  base: Record<string, Json>,
  schemaValue: Json,
  change: Mutation,
): { payload: Buffer; contentType: string; description: string } {
  const keys = Object.keys(base);
  const json = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');
  const asJson = (payload: Buffer, description: string) => ({ payload, contentType: 'application/json', description });
  switch (change.kind) {
    case 'valid':
      return asJson(json(base), 'the valid example');
    case 'schema':
      return asJson(json(schemaValue), 'generated from the request schema');
    case 'drop': {
      const key = pick(keys, change.index);
      const copy = { ...base };
      if (key !== undefined) delete copy[key];
      return asJson(json(copy), `without ${key}`);
    }
    case 'set': {
      const key = pick(keys, change.index) ?? change.name;
      return asJson(json({ ...base, [key]: change.value }), `${key} set to a hostile value`);
    }
    case 'extra':
      return asJson(json({ ...base, [change.name]: change.value }), `extra field ${JSON.stringify(change.name)}`);
    case 'nested': {
      // Inside the first array of objects (the intake's questions), a field gets a hostile value.
      const key = keys.find((name) => Array.isArray(base[name]) && typeof (base[name] as Json[])[0] === 'object');
      if (!key) return asJson(json({ ...base, nested: { inner: change.value } }), 'nested hostile value');
      const items = base[key] as Record<string, Json>[];
      const inner = Object.keys(items[0]!);
      const field = pick(inner, change.index)!;
      return asJson(
        json({ ...base, [key]: [{ ...items[0], [field]: change.value }, ...items.slice(1)] }),
        `${key}.0.${field} set to a hostile value`,
      );
    }
    case 'deep': {
      const key = pick(keys, change.index) ?? 'deep';
      // Half the time inside the first array of objects (an intake answer), else at the top.
      const list = keys.find((name) => Array.isArray(base[name]) && typeof (base[name] as Json[])[0] === 'object');
      const marked =
        list && change.index % 2 === 0
          ? { ...base, [list]: [{ ...(base[list] as Record<string, Json>[])[0], answer: '\u0001DEEP\u0001' }] }
          : { ...base, [key]: '\u0001DEEP\u0001' };
      const text = JSON.stringify(marked).replace('"\\u0001DEEP\\u0001"', deeplyNested(change.depth, change.shape));
      return asJson(Buffer.from(text, 'utf8'), `${key} nested ${change.depth} deep (${change.shape})`);
    }
    case 'duplicate': {
      const key = pick(keys, change.index) ?? 'key';
      const text = JSON.stringify(base);
      const duplicated = `{${JSON.stringify(key)}:${JSON.stringify(change.value)},${text.slice(1)}`;
      return asJson(Buffer.from(duplicated, 'utf8'), `duplicate key ${key}`);
    }
    case 'bytes': {
      const text = json(base);
      // Inside a string value when there is one: after the first `":"`.
      const inString = text.indexOf(Buffer.from('":"'));
      const at = inString >= 0 ? inString + 3 : change.at % (text.length + 1);
      const payload = Buffer.concat([text.subarray(0, at), Buffer.from(change.bytes), text.subarray(at)]);
      return asJson(payload, `bytes ${change.bytes.map((byte) => byte.toString(16)).join(' ')} at ${at}`);
    }
    case 'truncate': {
      const text = json(base);
      return asJson(text.subarray(0, change.at % Math.max(text.length, 1)), 'truncated');
    }
    case 'not-an-object':
      return asJson(json(change.value), 'a JSON value that is not an object');
    case 'media-type':
      return {
        payload: json(base),
        contentType: change.contentType,
        description: `content type "${change.contentType}"`,
      };
  }
}

/** A path param: the caller's own resource, a missing one, or junk. */
const paramValue = fc.oneof(
  { arbitrary: fc.constant('own'), weight: 4 },
  fc.constant('missing'),
  fc.string({ maxLength: 40 }),
  fc.constantFrom('x'.repeat(5000), '../../admin', '%', '\u0000', '🦄', ' ', '00000000-0000-0000-0000-000000000000'),
);

/** Query values: from the route's query schema, or hostile. */
const queryValue = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('', '0', '-1', '101', '1e308', 'true', 'x'.repeat(5000), '%FF', '\u0000'),
  fc.array(fc.string({ maxLength: 10 }), { minLength: 2, maxLength: 3 }),
);

export interface FuzzTarget {
  route: RegisteredRoute;
  bodySchema: JsonSchema | undefined;
  queryNames: string[];
}

/** The routes to fuzz and their request schemas, from the route table and the OpenAPI document. */
export function fuzzTargets(context: RouteTableContext): FuzzTarget[] {
  const document = context.app.swagger() as { paths: Record<string, Record<string, OpenApiOperation>> };
  return context.routes
    .filter(
      (route) => !route.url.startsWith('/docs') && !route.url.startsWith('/console') && route.url !== '/openapi.json',
    )
    .map((route) => {
      const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const operation = document.paths[path]?.[route.method.toLowerCase()];
      return {
        route,
        bodySchema: operation?.requestBody?.content?.['application/json']?.schema,
        queryNames: (operation?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
      };
    });
}

interface OpenApiOperation {
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  parameters?: { in: string; name: string }[];
}

/**
 * Requests as `owner`; operator (admin) routes act on `operated`, another organization, so that a
 * generated key revocation does not lock the owner out.
 */
export const requestArbitrary = (
  targets: FuzzTarget[],
  owner: OrganizationFixture,
  operated: OrganizationFixture,
): fc.Arbitrary<FuzzRequest> =>
  fc
    .nat({ max: targets.length - 1 })
    .chain((index) => {
      const target = targets[index]!;
      const hasBody = target.route.method !== 'GET' && target.route.method !== 'DELETE';
      return fc.record({
        target: fc.constant(target),
        params: fc.array(paramValue, { minLength: target.route.params.length, maxLength: target.route.params.length }),
        // Ids for missing resources and wrong keys, drawn from the seed like the rest of the request.
        uuids: fc.array(fc.uuid(), {
          minLength: target.route.params.length + 1,
          maxLength: target.route.params.length + 1,
        }),
        query: fc.dictionary(fc.constantFrom(...(target.queryNames.length ? target.queryNames : ['x'])), queryValue, {
          maxKeys: 3,
        }),
        schemaValue: hasBody ? fromSchema(target.bodySchema) : fc.constant(null),
        change: hasBody ? mutation : fc.constant<Mutation>({ kind: 'valid' }),
        credentials: fc.oneof(
          { arbitrary: fc.constant('own' as const), weight: 8 },
          fc.constantFrom('none' as const, 'wrong' as const),
        ),
      });
    })
    .map(({ target, params, uuids, query, schemaValue, change, credentials }) => {
      const { route } = target;
      const subject = route.config.auth === 'admin' ? operated : owner;
      const ownIds: Record<string, string> = {
        ...subject.ids,
        organizationId: subject.organizationId,
        apiKeyId: subject.apiKeyId,
      };
      const values = Object.fromEntries(
        route.params.map((param, index) => {
          const choice = params[index]!;
          return [
            param,
            choice === 'own' ? (ownIds[param] ?? uuids[index]!) : choice === 'missing' ? uuids[index]! : choice,
          ];
        }),
      );
      const search = new URLSearchParams();
      for (const [name, value] of Object.entries(query)) for (const item of [value].flat()) search.append(name, item);
      const url = fillPath(route.url, values) + (search.size > 0 ? `?${search}` : '');
      const headers: Record<string, string> = {};
      const key = credentials === 'own' ? owner.apiKey : credentials === 'wrong' ? `wrong-${uuids.at(-1)!}` : null;
      if (key && route.config.auth === 'apiKey') headers['cv-api-key'] = key;
      if (credentials !== 'none' && route.config.auth === 'admin') {
        headers.authorization = `Bearer ${credentials === 'own' ? ADMIN_TOKEN : 'wrong-token'}`;
      }
      let payload: Buffer | undefined;
      let description = `params ${JSON.stringify(values)}, credentials ${credentials}`;
      if (route.method !== 'GET' && route.method !== 'DELETE') {
        const example = (bodyFor(route) ?? {}) as Record<string, Json>;
        const base = route.config.auth === 'bodyKey' && key ? { ...example, key } : example;
        const body = mutateBody(base, schemaValue, change);
        payload = body.payload;
        if (body.contentType) headers['content-type'] = body.contentType;
        description += `, body: ${body.description}`;
      }
      return {
        route: routeName(route),
        method: route.method,
        url,
        headers,
        ...(payload ? { payload } : {}),
        mutation: description,
      };
    });

/** Row counts of every table, and a digest of their contents (api_keys' last use and the audit log aside). */
export async function databaseState(context: RouteTableContext): Promise<{ rows: number; digest: string }> {
  const { rows: tables } = await context.db.query<{ table_name: string }>(
    `select table_name from information_schema.tables
      where table_schema = current_schema() and table_type = 'BASE TABLE' and table_name <> 'audit_events'
      order by table_name`,
  );
  const parts = tables.map(({ table_name: table }) =>
    table === 'api_keys'
      ? `select 'api_keys' as t, count(*)::int as n, md5(coalesce(string_agg(id::text || coalesce(revoked_at::text, ''), ',' order by id), '')) as d from api_keys`
      : `select '${table}' as t, count(*)::int as n, md5(coalesce(string_agg(x::text, ',' order by x::text), '')) as d from "${table}" x`,
  );
  const { rows } = await context.db.query<{ t: string; n: number; d: string }>(parts.join(' union all '));
  return {
    rows: rows.reduce((sum, row) => sum + row.n, 0),
    digest: rows.map((row) => `${row.t}:${row.n}:${row.d}`).join(' '),
  };
}

/** The error bodies a route documents: its response schemas for 4xx and 5xx. */
function documentedErrors(route: RegisteredRoute): Map<number, ZodType> {
  const response = (route.schema?.response ?? {}) as Record<string, ZodType>;
  return new Map(
    Object.entries(response)
      .filter(([status]) => Number(status) >= 400)
      .map(([status, schema]) => [Number(status), schema]),
  );
}

/** Envelopes every route may answer with besides its own schemas (src/http/envelopes.ts). */
const commonEnvelopes: Record<string, (body: Record<string, unknown>) => boolean> = {
  intake: (body) => keysAre(body, ['success', 'error']) || keysAre(body, ['status', 'error']),
  payments: (body) => keysAre(body, ['success', 'message']) || keysAre(body, ['status', 'error']),
  bundles: (body) => keysAre(body, ['status', 'success', 'message', 'error']),
  standard: (body) => keysAre(body, ['status', 'success', 'error']),
};

function keysAre(body: Record<string, unknown>, keys: string[]): boolean {
  return Object.keys(body).sort().join(',') === [...keys].sort().join(',');
}

/**
 * Why an answer breaks the contract, or undefined when it keeps it. Every answer is held to the route's own
 * response schema for its status, a success too: Fastify answers a body that fails it with a 500
 * `FST_ERR_RESPONSE_SERIALIZATION` of its own (issue 16: the intake's "already being processed" 409).
 */
export function checkAnswer(route: RegisteredRoute, status: number, text: string): string | undefined {
  if (text.includes('FST_ERR_RESPONSE_SERIALIZATION')) return `failed its own ${status} schema: ${short(text)}`;
  if (status >= 500) return `answered ${status}: ${text.slice(0, 300)}`;
  if (status < 400) {
    const schema = (route.schema?.response as Record<string, ZodType> | undefined)?.[String(status)];
    if (!schema) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return `${status} body is not JSON: ${short(text)}`;
    }
    return schema.safeParse(parsed).success ? undefined : `${status} body is not its documented schema: ${short(text)}`;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `error body is not JSON: ${text.slice(0, 200)}`;
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return `error body is not an object: ${text}`;
  const documented = documentedErrors(route);
  const own = documented.get(status);
  if (own) return own.safeParse(body).success ? undefined : `${status} body is not its documented schema: ${text}`;
  // A status the route does not list (413, 415, 429...): one of its documented error shapes, or its family's.
  if ([...documented.values()].some((schema) => schema.safeParse(body).success)) return undefined;
  // Refused before any route matched (malformed or over-long path, no such path): the app-wide envelope.
  if ([400, 404, 414].includes(status) && commonEnvelopes.standard!(body as Record<string, unknown>)) return undefined;
  const family = commonEnvelopes[route.config.envelope ?? 'standard'];
  if (documented.size === 0 && family?.(body as Record<string, unknown>)) return undefined;
  return `${status} body in no documented envelope of the route: ${short(text)}`;
}

/**
 * The route that answers a request, or undefined when none does (the app-wide 404). The path is taken as a
 * client sends it: fetch, curl and light-my-request (app.inject) resolve `.` and `..` segments (also written
 * %2E) by the URL standard before sending, so `/api/v1/cases/./payments` reaches the server as
 * `/api/v1/cases/payments`, which no route matches. Then it is matched as Fastify's router does: a param
 * takes one segment, even an empty one, and a static segment wins over a param.
 */
export function answeringRoute(
  routes: readonly RegisteredRoute[],
  method: string,
  url: string,
): RegisteredRoute | undefined {
  const segments = new URL(url, 'http://localhost').pathname.split('/');
  const matches = routes.filter((route) => {
    const pattern = route.url.split('/');
    return (
      route.method === method &&
      pattern.length === segments.length &&
      pattern.every((part, index) => part.startsWith(':') || part === segments[index])
    );
  });
  const staticSegments = (route: RegisteredRoute) =>
    route.url.split('/').filter((part) => !part.startsWith(':')).length;
  return matches.sort((a, b) => staticSegments(b) - staticSegments(a))[0];
}

/**
 * Why the answer to a request breaks the contract, or undefined: checked against the route that answered it
 * (answeringRoute), or, when no route did, against the app-wide envelope of a 404 or a router refusal.
 */
export function checkRequestAnswer(
  routes: readonly RegisteredRoute[],
  request: Pick<FuzzRequest, 'method' | 'url'>,
  status: number,
  text: string,
): string | undefined {
  const route = answeringRoute(routes, request.method, request.url);
  if (route) return checkAnswer(route, status, text);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `error body is not JSON: ${text.slice(0, 200)}`;
  }
  const enveloped =
    typeof body === 'object' && body !== null && commonEnvelopes.standard!(body as Record<string, unknown>);
  return [400, 404, 414].includes(status) && enveloped
    ? undefined
    : `no route answers ${request.method} ${short(request.url)}, yet it answered ${status}: ${short(text)}`;
}

const short = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}... (${text.length} characters)` : text);

/** Runs `runs` generated requests against the app; throws (with the request) at the first broken contract. */
export async function runFuzz(
  context: RouteTableContext,
  owner: OrganizationFixture,
  operated: OrganizationFixture,
  options: { runs: number; seed?: number; onProgress?: (report: FuzzReport) => void },
): Promise<FuzzReport> {
  const targets = fuzzTargets(context);
  const seed = options.seed ?? seedFor('fuzz');
  const report: FuzzReport = { runs: options.runs, requests: 0, byStatus: {}, rejected: 0, rowsChecked: 0, seed };
  const property = fc.asyncProperty(requestArbitrary(targets, owner, operated), async (request) => {
    const before = await databaseState(context);
    const response = await context.app.inject({
      method: request.method as 'GET',
      url: request.url,
      headers: request.headers,
      ...(request.payload ? { payload: request.payload } : {}),
    });
    report.requests += 1;
    report.byStatus[response.statusCode] = (report.byStatus[response.statusCode] ?? 0) + 1;
    if (report.requests % 500 === 0) options.onProgress?.(report);
    const problem = checkRequestAnswer(context.routes, request, response.statusCode, response.body);
    if (problem) throw new Error(`${request.route} ${short(request.url)} (${short(request.mutation)}): ${problem}`);
    if (response.statusCode >= 400) {
      report.rejected += 1;
      const after = await databaseState(context);
      report.rowsChecked += after.rows;
      if (after.digest !== before.digest) {
        throw new Error(
          `${request.route} (${request.mutation}) answered ${response.statusCode} but changed stored rows`,
        );
      }
    }
  });
  const result = await fc.check(property, { numRuns: options.runs, seed, endOnFailure: true });
  if (result.failed) {
    report.failure = `${String(result.errorInstance)}\n(reproduce: --seed ${seed} --path ${result.counterexamplePath})`;
  }
  return report;
}
