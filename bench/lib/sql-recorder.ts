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
export function recordingDatabase(inner: Database): { db: Database; statements: RecordedStatement[] } {
  const statements: RecordedStatement[] = [];
  let transactions = 0;
  const wrap = (target: Queryable, transaction: number | null): Queryable => ({
    query<Row>(text: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
      statements.push({ text, params: params ? [...params] : [], transaction });
      return target.query<Row>(text, params);
    },
    exec: (script) => target.exec(script),
  });
  const outside = wrap(inner, null);
  // Spread first: whatever else an engine offers (now or later) passes through unchanged.
  const db: Database = {
    ...inner,
    query: outside.query,
    exec: outside.exec,
    transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
      const sequence = ++transactions;
      return inner.transaction((tx) => work(wrap(tx, sequence)));
    },
  };
  return { db, statements };
}

/** Statements a plan can be asked for (EXPLAIN): not transaction control, SET or utility commands. */
export function isExplainable(text: string): boolean {
  return /^\s*(with|select|insert|update|delete)\b/i.test(text) && !/^\s*select\s+1\s*$/i.test(text);
}
