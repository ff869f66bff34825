import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Database, QueryResult } from '../../src/db/database.ts';
import { createServices } from '../../src/services.ts';
import { intakeByTitle, UNIQUE } from './bodies.ts';

/**
 * The app of one variant for bench/app-cpu.ts (which bundles this file once per variant): built over a
 * database that answers every statement with what a real database answered it when recorded, so nothing but
 * the application's own code runs. Sends intakes by form title, the benchmark's body, through `app.inject`.
 */

/** What a real database answered each statement (by its text) of the recorded intakes. */
export type RecordedAnswers = [text: string, result: QueryResult<unknown>][];

export const API_KEY = 'c360_bench_0123456789abcdef0123456789abcdef';

export const ENVIRONMENT = {
  LOG_LEVEL: 'silent',
  BOOTSTRAP_API_KEY: API_KEY,
  PHI_ENCRYPTION_KEY: 'ab'.repeat(32),
  RATE_LIMIT_PER_KEY: '1000000000',
  RATE_LIMIT_PER_ADDRESS: '1000000000',
  AUTH_FAILURE_LIMIT: '1000000',
};

export const FORM_TITLE = 'App CPU form';

/** Sends `count` intakes, `inflight` at a time; throws at the first that is not a 200. */
export type IntakeRunner = (count: number, inflight: number) => Promise<void>;

export async function createIntakeRunner(answers: RecordedAnswers): Promise<IntakeRunner> {
  const byText = new Map(answers);
  const answer = async (text: string) => {
    const result = byText.get(text);
    if (!result) throw new Error(`a statement that was not recorded (changed SQL?): ${text.slice(0, 80)}`);
    return result as never;
  };
  const db = {
    engine: 'postgres',
    query: answer,
    exec: async () => undefined,
    transaction: async (work: (tx: unknown) => unknown) => work({ query: answer, exec: async () => undefined }),
    close: async () => undefined,
  } as unknown as Database;
  const config = loadConfig(ENVIRONMENT);
  const app = await buildApp({ config, db, services: createServices(db, config), logger: false });
  await app.ready();
  const template = intakeByTitle(FORM_TITLE).split(UNIQUE);
  let sent = 0;
  const intake = () =>
    app.inject({
      method: 'POST',
      url: '/api/v1/dynamic-case',
      headers: { 'cv-api-key': API_KEY, 'content-type': 'application/json' },
      payload: template.join(`cpu${++sent}`),
    });
  return async (count, inflight) => {
    await Promise.all(
      Array.from({ length: inflight }, async () => {
        for (let index = 0; index < count / inflight; index++) {
          const response = await intake();
          if (response.statusCode !== 200) throw new Error(`intake answered ${response.statusCode}: ${response.body}`);
        }
      }),
    );
  };
}
