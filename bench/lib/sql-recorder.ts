import type { Database, Queryable, QueryResult } from '../../src/db/database.ts';

/** One statement the application sent, with its parameters, and the transaction it ran in (if any). */
export interface RecordedStatement {
  text: string;
  params: readonly unknown[];
  /** Sequence number of the enclosing transaction; null outside transactions. */
  transaction: number | null;
}

/**
 * Wraps a Database so every statement the application sends through it is recorded. The benchmark's
 * database ceiling replays what one real intake sent, and the EXPLAIN test plans every recorded query:
 * both follow the repositories' SQL as it changes, with nothing copied by hand.
 */
export function recordingDatabase(inner: Database): {
  db: Database;
  statements: RecordedStatement[];
  /** Methods other than query/exec/transaction the app called: their SQL (if any) was not recorded. */
  unrecordedCalls: Set<string>;
} {
  const statements: RecordedStatement[] = [];
  const unrecordedCalls = new Set<string>();
  let transactions = 0;
  // Anything else an engine offers (now or later) passes through, noted, so a replay can say what it missed.
  const passThrough = <T extends object>(target: T, prefix: string): Partial<T> => {
    const copy: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(target)) {
      if (['query', 'exec', 'transaction', 'close', 'engine'].includes(key)) continue;
      copy[key] =
        typeof value === 'function'
          ? (...args: unknown[]) => {
              unrecordedCalls.add(`${prefix}${key}`);
              return (value as (...callArgs: unknown[]) => unknown).apply(target, args);
            }
          : value;
    }
    return copy as Partial<T>;
  };
  const wrap = (target: Queryable, transaction: number | null): Queryable => ({
    ...passThrough(target, transaction === null ? 'db.' : 'tx.'),
    query<Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      statements.push({ text, params: params ? [...params] : [], transaction });
      return target.query<Row>(text, params);
    },
    exec: (script) => target.exec(script),
  });
  const outside = wrap(inner, null);
  const db: Database = {
    ...inner,
    ...passThrough(inner, 'db.'),
    query: outside.query,
    exec: outside.exec,
    transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
      const sequence = ++transactions;
      return inner.transaction((tx) => work(wrap(tx, sequence)));
    },
  };
  return { db, statements, unrecordedCalls };
}

/** Statements a plan can be asked for (EXPLAIN): not transaction control, SET or utility commands. */
export function isExplainable(text: string): boolean {
  return /^\s*(with|select|insert|update|delete)\b/i.test(text) && !/^\s*select\s+1\s*$/i.test(text);
}
