/**
 * bytea parameters and columns move as bytes on both engines: what goes in is what PostgreSQL stores
 * (checked by its own sha256()) and what comes back, through plain and prepared statements, for any
 * byte value, a view into a larger buffer, an empty value and a file-sized one. On PGlite this exercises
 * the serializer and parser src/db/database.ts installs (binary parameters, native hex decoding).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { prepared, type Database } from '../../src/db/database.ts';
import { freshDatabase } from '../support/database.ts';

const INSERT = 'insert into bytea_probe (id, content) values ($1, $2)';
const SELECT = `select content, encode(sha256(content), 'hex') as digest, length(content) as size
                  from bytea_probe where id = $1`;
const PREPARED_INSERT = prepared(`${INSERT} -- prepared`);
const PREPARED_SELECT = prepared(`${SELECT} -- prepared`);

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe(`bytea (${process.env.TEST_DATABASE_URL ? 'PostgreSQL' : 'PGlite'})`, () => {
  let db: Database;
  let drop: () => Promise<void>;
  before(async () => {
    ({ db, drop } = await freshDatabase());
    await db.exec('create table bytea_probe (id integer primary key, content bytea not null)');
  });
  after(async () => drop());

  const every = Buffer.from(Array.from({ length: 256 }, (_, index) => index));
  const large = randomBytes(300 * 1024);
  const backing = Buffer.concat([Buffer.from('before'), every, Buffer.from('after')]);
  const view = new Uint8Array(backing.buffer, backing.byteOffset + 6, 256); // a plain Uint8Array, offset
  const cases: [string, Uint8Array][] = [
    ['every byte value', every],
    ['a 300 KB value', large],
    ['a view into a larger buffer', view],
    ['an empty value', Buffer.alloc(0)],
  ];

  let id = 0;
  for (const [name, bytes] of cases) {
    for (const [how, insert, select] of [
      ['plain', INSERT, SELECT],
      ['prepared', PREPARED_INSERT, PREPARED_SELECT],
    ] as const) {
      it(`stores and returns ${name} (${how})`, async () => {
        id += 1;
        await db.query(insert, [id, bytes]);
        const { rows } = await db.query<{ content: Uint8Array; digest: string; size: number }>(select, [id]);
        const row = rows[0]!;
        assert.equal(Number(row.size), bytes.byteLength, 'PostgreSQL holds as many bytes as were sent');
        assert.equal(row.digest, sha256(bytes), 'PostgreSQL holds the very bytes that were sent');
        assert.ok(Buffer.isBuffer(row.content), 'read back as a Buffer');
        assert.ok(Buffer.from(bytes).equals(row.content), 'read back unchanged');
      });
    }
  }
});
