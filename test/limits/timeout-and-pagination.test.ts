import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { z } from 'zod';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { ApiError } from '../../src/http/api-error.ts';
import { registerErrorHandling } from '../../src/http/error-handler.ts';
import { registerHandlerTimeLimit } from '../../src/http/time-limit.ts';
import {
  cursorSchema,
  decodeCursor,
  DEFAULT_PAGE_SIZE,
  encodeCursor,
  limitSchema,
  MAX_PAGE_SIZE,
  toPage,
} from '../../src/http/pagination.ts';
import { freshDatabase } from '../support/database.ts';
import type { Database } from '../../src/db/database.ts';

describe('request time limit', () => {
  let db: Database;
  let drop: () => Promise<void>;
  before(async () => {
    ({ db, drop } = await freshDatabase());
  });
  after(async () => drop());

  it('answers 503 in the route envelope when a handler takes longer than the limit, and no sooner', async () => {
    const app = Fastify({ logger: false });
    registerErrorHandling(app);
    registerHandlerTimeLimit(app, 200);
    // Answers only after the limit: the client has its 503 by then, and the late answer changes nothing. Its
    // timer is set after the request's deadline and runs three times as long, so the sweep (every 20 ms) comes
    // first however late the machine runs its timers.
    const running: Promise<unknown>[] = [];
    let finished = 0;
    const late = () => {
      const answer = new Promise<{ ok: true }>((resolve) => setTimeout(() => resolve({ ok: true }), 600)).then(
        (value) => {
          finished += 1;
          return value;
        },
      );
      running.push(answer);
      return answer;
    };
    app.get('/intake', { config: { envelope: 'intake' } }, late);
    app.post('/payments', { config: { envelope: 'payments' } }, late);
    await app.ready();
    const began = Date.now();
    const intake = await app.inject({ method: 'GET', url: '/intake' });
    const waited = Date.now() - began;
    assert.equal(intake.statusCode, 503);
    assert.deepEqual(intake.json(), { success: false, error: 'Request timed out' });
    assert.ok(waited >= 200, `answered after ${waited} ms, before the limit of 200 ms`);
    // A POST with a body: its time starts with the request, not when the body has been read.
    const payments = await app.inject({ method: 'POST', url: '/payments', payload: { amount: 1 } });
    assert.equal(payments.statusCode, 503);
    assert.deepEqual(payments.json(), { success: false, message: 'Request timed out' });
    await Promise.all(running);
    assert.equal(finished, 2, 'the slow handlers ran to completion');
    await app.close();
  });

  it('leaves a handler that answers within the limit alone', async () => {
    // A limit no loaded machine comes near: the handler's own answer, after its 100 ms.
    const app = Fastify({ logger: false });
    registerErrorHandling(app);
    registerHandlerTimeLimit(app, 60_000);
    app.post('/quick', async () => new Promise((resolve) => setTimeout(() => resolve({ ok: true }), 100)));
    await app.ready();
    const quick = await app.inject({ method: 'POST', url: '/quick', payload: { a: 1 } });
    assert.equal(quick.statusCode, 200);
    assert.deepEqual(quick.json(), { ok: true });
    await app.close();
  });

  it('is REQUEST_TIMEOUT_MS (default 30 s), for handling and for receiving a request', async () => {
    assert.equal(loadConfig({}).limits.requestTimeoutMs, 30_000);
    assert.throws(() => loadConfig({ REQUEST_TIMEOUT_MS: '10' }));
    const app = await buildApp({ config: loadConfig({ REQUEST_TIMEOUT_MS: '1000' }), db, logger: false });
    try {
      // Would answer 200 after 4 s: without the limit the test fails instead of hanging. The timer is held
      // (not unref'd): an injected request has no socket, so nothing else need keep the event loop running.
      const slow = () => new Promise((resolve) => setTimeout(() => resolve({ ok: true }), 4_000));
      app.get('/stuck', { config: { envelope: 'intake' } }, slow);
      assert.equal(app.server.requestTimeout, 1_000);
      const began = Date.now();
      const stuck = await app.inject({ method: 'GET', url: '/stuck' });
      assert.equal(stuck.statusCode, 503);
      assert.deepEqual(stuck.json(), { success: false, error: 'Request timed out' });
      assert.ok(Date.now() - began >= 1_000);
    } finally {
      await app.close();
    }
  });
});

describe('a request that times out while its body is still arriving', () => {
  it('gets its 503 with Connection: close, and its connection is closed', async () => {
    const { db, drop } = await freshDatabase();
    const app = await buildApp({ config: loadConfig({ REQUEST_TIMEOUT_MS: '1000' }), db, logger: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const socket = connect(port, '127.0.0.1');
    const trickle = setInterval(() => socket.writable && socket.write('"'), 200);
    try {
      let received = '';
      socket.on('data', (chunk) => {
        received += chunk.toString('latin1');
        clearInterval(trickle);
      });
      // The server may end the connection with a reset: its kernel does so when trickled bytes are still unread.
      let reset: NodeJS.ErrnoException | undefined;
      socket.on('error', (error: NodeJS.ErrnoException) => (reset = error));
      const closed = once(socket, 'close');
      socket.write(
        'POST /initiatePayment HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
          'Content-Length: 1000\r\n\r\n{"key":',
      );
      const began = Date.now();
      // The client keeps trickling; the server must end the connection itself, after its answer. The wait ends
      // when the socket closes; its limit only ends a connection the server never closes, far beyond any stall of a
      // loaded machine (a timer due when the close arrives runs before the close is read).
      const patience = new Promise((resolve) => setTimeout(resolve, 60_000).unref());
      await Promise.race([closed, patience]);
      assert.match(received, /^HTTP\/1\.1 503 /);
      assert.match(received, /\r\nconnection: close\r\n/i);
      assert.ok(received.includes('"message":"Request timed out"'), received);
      assert.ok(socket.destroyed || socket.readableEnded, `the connection is still open ${Date.now() - began} ms on`);
      if (reset) assert.equal(reset.code, 'ECONNRESET', String(reset));
    } finally {
      clearInterval(trickle);
      socket.destroy();
      await app.close();
      await drop();
    }
  });
});

describe('pagination', () => {
  it('caps limit at MAX_PAGE_SIZE with a default', () => {
    const schema = limitSchema();
    assert.equal(MAX_PAGE_SIZE, 100);
    assert.equal(schema.parse(undefined), DEFAULT_PAGE_SIZE);
    assert.equal(schema.parse('7'), 7);
    assert.equal(schema.parse(String(MAX_PAGE_SIZE)), MAX_PAGE_SIZE);
    for (const bad of [String(MAX_PAGE_SIZE + 1), '0', '-1', '2.5', 'ten'])
      assert.ok(!schema.safeParse(bad).success, bad);
    // An endpoint may choose a smaller cap, never a larger one.
    assert.ok(!limitSchema({ max: 10 }).safeParse('11').success);
    assert.ok(!limitSchema({ max: 1000 }).safeParse('101').success);
    assert.equal(limitSchema({ max: 10, default: 50 }).parse(undefined), 10);
  });

  it('round-trips a cursor and rejects anything else as a 400', () => {
    const position = z.object({ t: z.iso.datetime(), id: z.uuid() });
    const value = { t: '2026-03-01T12:00:00.123Z', id: '00000000-0000-4000-8000-000000000001' };
    const cursor = encodeCursor(value);
    assert.match(cursor, /^[A-Za-z0-9_-]+$/, 'safe in a query string');
    assert.deepEqual(decodeCursor(cursor, position), value);
    for (const bad of [
      '',
      'not base64 json',
      encodeCursor({ t: 'now', id: 'x' }),
      Buffer.from('[1').toString('base64url'),
    ]) {
      assert.throws(
        () => decodeCursor(bad, position),
        (error: unknown) => error instanceof ApiError && error.statusCode === 400 && error.message === 'Invalid cursor',
      );
    }
    assert.ok(!cursorSchema.safeParse('x'.repeat(513)).success);
  });

  it('makes one page from limit + 1 rows', () => {
    const rows = [{ id: 1 }, { id: 2 }, { id: 3 }];
    const full = toPage(rows, 2, (row) => ({ id: row.id }));
    assert.deepEqual(full.items, [{ id: 1 }, { id: 2 }]);
    assert.deepEqual(decodeCursor(full.nextCursor ?? '', z.object({ id: z.number() })), { id: 2 });
    const last = toPage(rows, 3, (row) => ({ id: row.id }));
    assert.equal(last.items.length, 3);
    assert.equal(last.nextCursor, null);
    assert.deepEqual(
      toPage([], 5, () => ({})),
      { items: [], nextCursor: null },
    );
  });
});
