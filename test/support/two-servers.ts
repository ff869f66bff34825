import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Database } from '../../src/db/database.ts';
import { createServices } from '../../src/services.ts';
import { checkAnswer } from '../security/fuzz-engine.ts';
import { PHI_ENCRYPTION_KEY, routeFor, withRouteTable, type RegisteredRoute } from '../security/support.ts';
import { freshDatabase } from './database.ts';
import { startServer, type RunningServer } from './server-process.ts';

/**
 * Two servers on one database, for races. With TEST_DATABASE_URL: two server PROCESSES (the bundle, as
 * `npm start` runs it) on one PostgreSQL schema, over real sockets, each with its own pool. Without it: two app
 * instances in this process on one PGlite database, their requests interleaved (PGlite has one connection, so
 * that variant checks the application's logic under interleaving, not PostgreSQL's locks; CI runs both).
 * Every answer is checked against its route's own response schema (the fuzz suite's checkAnswer).
 */
export interface TwoServers {
  db: Database;
  /** 'PostgreSQL (two processes)' or 'PGlite (one process)', for test names. */
  label: string;
  send(server: number, request: RaceRequest): Promise<RaceAnswer>;
  /** The request made by `request(index)`, `count` times at once, alternating between the two servers. */
  race(count: number, request: (index: number) => RaceRequest): Promise<RaceAnswer[]>;
  /** Every answer so far that broke its route's response schema, with why: none, normally. */
  brokenAnswers(): string[];
  /** Everything the server processes printed (empty for the in-process variant). */
  output(): string;
  close(): Promise<void>;
}

export interface RaceRequest {
  method: 'GET' | 'POST';
  url: string;
  apiKey: string;
  body?: unknown;
}

export interface RaceAnswer {
  status: number;
  text: string;
  // Tests read the fields they expect; the schema check above holds the shape.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export const usesPostgres = Boolean(process.env.TEST_DATABASE_URL);

/** `environment` adds to the servers' own (fake gateways' URLs, limits); rate limits are off. */
export async function startTwoServers(environment: Record<string, string> = {}): Promise<TwoServers> {
  const fresh = await freshDatabase();
  const { db } = fresh;
  const settings = { PHI_ENCRYPTION_KEY, RATE_LIMIT_PER_KEY: '0', RATE_LIMIT_PER_ADDRESS: '0', ...environment };
  const config = loadConfig({ ...settings, LOG_LEVEL: 'silent' });
  const buildOne = async () => {
    const app = await buildApp({ config, db, services: createServices(db, config), logger: false });
    await app.ready();
    return app;
  };
  const apps: FastifyInstance[] = [];
  const servers: RunningServer[] = [];
  const broken: string[] = [];
  // The route table, from an app built here as the servers build theirs.
  const { built: first, routes } = await withRouteTable(buildOne);

  let call: (server: number, request: RaceRequest) => Promise<{ status: number; text: string }>;
  if (fresh.url) {
    await first.close();
    for (let index = 0; index < 2; index += 1) {
      servers.push(await startServer({ ...settings, DATABASE_URL: fresh.url, DATABASE_POOL_SIZE: '10' }));
    }
    call = async (server, request) => {
      const response = await fetch(`${servers[server]!.url}${request.url}`, {
        method: request.method,
        headers: headersOf(request),
        ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
      });
      return { status: response.status, text: await response.text() };
    };
  } else {
    apps.push(first, await buildOne());
    call = async (server, request) => {
      const response = await apps[server]!.inject({
        method: request.method,
        url: request.url,
        headers: headersOf(request),
        ...(request.body === undefined ? {} : { payload: JSON.stringify(request.body) }),
      });
      return { status: response.statusCode, text: response.body };
    };
  }

  const send = async (server: number, request: RaceRequest): Promise<RaceAnswer> => {
    const { status, text } = await call(server, request);
    const problem = answerProblem(routes, request, status, text);
    if (problem) broken.push(problem);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status, text, json };
  };

  return {
    db,
    label: fresh.url ? 'PostgreSQL (two processes)' : 'PGlite (one process)',
    send,
    race: (count, request) => Promise.all(Array.from({ length: count }, (_, index) => send(index % 2, request(index)))),
    brokenAnswers: () => [...broken],
    output: () => servers.map((server) => server.output()).join('\n'),
    async close() {
      for (const server of servers) await server.stop();
      for (const app of apps) await app.close();
      await fresh.drop();
    },
  };
}

function headersOf(request: RaceRequest): Record<string, string> {
  return {
    'cv-api-key': request.apiKey,
    ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
  };
}

function answerProblem(routes: RegisteredRoute[], request: RaceRequest, status: number, text: string) {
  const route = routeFor(routes, request.method, request.url);
  if (!route) return `${request.method} ${request.url}: no such route (${status})`;
  const problem = checkAnswer(route, status, text);
  return problem && `${request.method} ${request.url}: ${problem}`;
}
