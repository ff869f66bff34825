import { SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { preparedStatementName, type Database, type Queryable } from '../db/database.ts';
import type { Observability } from './index.ts';

/** A statement's summary by text; the texts are constants of the code, so this stays small. */
const summaries = new Map<string, string>();
const MAX_SUMMARIES = 1000;

/**
 * What a metric label and a span name say of a SQL text: its operation and first table (`insert cases`,
 * `select forms`, `update case_payments`), `with` for a statement that starts with a CTE, else its first
 * word. Never the text's values: parameters are bound separately and are never read here.
 */
export function statementSummary(text: string): string {
  let summary = summaries.get(text);
  if (summary !== undefined) return summary;
  const head = text.slice(0, 2000).toLowerCase();
  const operation = /^\s*([a-z]+)/.exec(head)?.[1] ?? 'other';
  const table =
    operation === 'insert'
      ? /^\s*insert\s+into\s+"?([a-z_][a-z0-9_]*)/.exec(head)?.[1]
      : operation === 'update'
        ? /^\s*update\s+"?([a-z_][a-z0-9_]*)/.exec(head)?.[1]
        : operation === 'delete'
          ? /^\s*delete\s+from\s+"?([a-z_][a-z0-9_]*)/.exec(head)?.[1]
          : operation === 'select'
            ? /\bfrom\s+"?([a-z_][a-z0-9_]*)/.exec(head)?.[1]
            : undefined;
  summary = table ? `${operation} ${table}` : operation;
  if (summaries.size < MAX_SUMMARIES) summaries.set(text, summary);
  return summary;
}

/**
 * The database with every statement and transaction measured (metrics) and traced (a span per statement,
 * child of the request's span), when either is on; otherwise the database itself, untouched. Everything
 * else the database offers is reached through the prototype.
 */
export function observeDatabase(db: Database, observability: Observability): Database {
  const { metrics, tracer } = observability;
  if (!metrics && !tracer) return db;
  if (metrics && db.poolState) {
    const poolState = db.poolState.bind(db);
    metrics.databasePool(poolState);
  }

  const measured = async <T>(statement: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      const result = await work();
      metrics!.databaseQuery(statement, 'ok', (performance.now() - started) / 1000);
      return result;
    } catch (error) {
      metrics!.databaseQuery(statement, 'error', (performance.now() - started) / 1000);
      throw error;
    }
  };
  const observed = <T>(text: string, work: () => Promise<T>): Promise<T> => {
    const statement = statementSummary(text);
    const measuredWork = metrics ? () => measured(statement, work) : work;
    return tracer ? traced(tracer, statement, text, measuredWork) : measuredWork();
  };

  const wrap = (connection: Queryable): Queryable => ({
    query: (text, params) => observed(text, () => connection.query(text, params)),
    exec: (script) => observed(script, () => connection.exec(script)),
  });
  const direct = wrap(db);

  const wrapper: Partial<Database> = {
    query: direct.query,
    exec: direct.exec,
    async transaction(work) {
      const started = performance.now();
      const run = () => db.transaction((tx) => work(wrap(tx)));
      try {
        const result = tracer
          ? await tracer.startActiveSpan('transaction', { kind: SpanKind.CLIENT }, async (span) => {
              try {
                return await run();
              } catch (error) {
                span.setStatus({ code: SpanStatusCode.ERROR });
                throw error;
              } finally {
                span.end();
              }
            })
          : await run();
        metrics?.databaseTransaction('commit', (performance.now() - started) / 1000);
        return result;
      } catch (error) {
        metrics?.databaseTransaction('rollback', (performance.now() - started) / 1000);
        throw error;
      }
    },
  };
  return Object.assign(Object.create(db) as Database, wrapper);
}

function traced<T>(tracer: Tracer, statement: string, text: string, work: () => Promise<T>): Promise<T> {
  const name = preparedStatementName(text);
  return tracer.startActiveSpan(
    statement,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'db.system.name': 'postgresql',
        'db.query.summary': statement,
        ...(name ? { 'db.statement.name': name } : {}),
      },
    },
    async (span) => {
      try {
        return await work();
      } catch (error) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as { code?: string }).code ?? 'error' });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}
