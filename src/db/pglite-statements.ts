import { parse, protocol, type PGlite } from '@electric-sql/pglite';

type Serializer = (value: unknown) => string;
/** What `PGlite.query` answers, as far as src/db/database.ts reads it. */
type StatementResult<Row> = { rows: Row[]; rowCount?: number; affectedRows?: number };
type Message = Parameters<typeof parse.parseResults>[0][number];

/** The parts of PGlite this uses beyond `query`: its query mutexes and its type (de)serializers. */
interface PgliteInternals {
  _runExclusiveTransaction<T>(work: () => Promise<T>): Promise<T>;
  _runExclusiveQuery<T>(work: () => Promise<T>): Promise<T>;
  serializers: Record<number | string, Serializer>;
  parsers: Parameters<typeof parse.parseResults>[1];
}

const { serialize } = protocol;

function concat(parts: Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(parts.reduce((length, part) => length + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return joined;
}

/**
 * Named prepared statements on PGlite, for the texts marked `prepared` (src/db/database.ts). PGlite's
 * `query` parses and plans its text every time, in six calls into the WASM engine (parse, describe,
 * bind, describe, execute, sync). Here a statement is parsed once per session; each execution is then
 * ONE call (bind, describe, execute, sync), and PostgreSQL reuses its plan: three to four times less
 * work per statement for the intake's queries. Parameters and results are converted exactly as
 * PGlite's own `query` does (its serializers by parameter type, `parseResults` for the rows).
 */
export class PgliteStatements {
  private readonly parameterTypes = new Map<string, number[]>();
  private readonly internals: PgliteInternals;

  constructor(private readonly client: PGlite) {
    this.internals = client as unknown as PgliteInternals;
  }

  /** `inTransaction`: called from inside `client.transaction`, which already holds the transaction mutex. */
  async query<Row>(
    name: string,
    text: string,
    params: readonly unknown[],
    inTransaction: boolean,
  ): Promise<StatementResult<Row>> {
    const execute = () => this.internals._runExclusiveQuery(() => this.execute<Row>(name, text, params));
    return inTransaction ? execute() : this.internals._runExclusiveTransaction(execute);
  }

  private async execute<Row>(name: string, text: string, params: readonly unknown[]): Promise<StatementResult<Row>> {
    let types = this.parameterTypes.get(name);
    if (!types) {
      // A failed parse (a SQL error) leaves nothing prepared: the Sync ends the error state, and the
      // next call tries again. The Close first (not an error for a name that does not exist) makes that
      // retry work even after a parse that succeeded and a describe that did not.
      const described = await this.send([
        serialize.close({ type: 'S', name }),
        serialize.parse({ name, text }),
        serialize.describe({ type: 'S', name }),
      ]);
      types = parse.parseDescribeStatementResults(described);
      this.parameterTypes.set(name, types);
    }
    const values = params.map((value, index) => {
      if (value === null || value === undefined) return null;
      const serializer = this.internals.serializers[types[index]!];
      return serializer ? serializer(value) : String(value);
    });
    const messages = await this.send([
      serialize.bind({ statement: name, values }),
      serialize.describe({ type: 'P' }),
      serialize.execute({}),
    ]);
    return parse.parseResults(messages, this.internals.parsers)[0] as unknown as StatementResult<Row>;
  }

  /** The messages and a Sync, in one call into the engine; an error response is thrown after the Sync. */
  private async send(messages: Uint8Array[]): Promise<Message[]> {
    return (await this.client.execProtocolStream(concat([...messages, serialize.sync()]), {
      syncToFs: false,
    })) as Message[];
  }
}
