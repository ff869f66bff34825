import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { RequestLoad } from '../../src/http/request-load.ts';
import { until } from '../support/until.ts';

describe('RequestLoad', () => {
  it('counts requests from arrival to the end of the response, or of the connection', async () => {
    const app = Fastify();
    const load = new RequestLoad(2);
    load.track(app);
    const release: (() => void)[] = [];
    app.get('/held', () => new Promise((resolve) => release.push(() => resolve({ ok: true }))));
    app.get('/quick', () => ({ inFlight: load.inFlight }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    try {
      const answers = [fetch(`http://127.0.0.1:${port}/held`), fetch(`http://127.0.0.1:${port}/held`)];
      await until(() => release.length === 2);
      assert.equal(load.inFlight, 2);
      // A request that is being answered counts itself.
      assert.deepEqual(await (await fetch(`http://127.0.0.1:${port}/quick`)).json(), { inFlight: 3 });
      // A client that goes away ends its request's count though its handler still runs.
      const gone = http.get(`http://127.0.0.1:${port}/held`);
      gone.on('error', () => {});
      await until(() => release.length === 3);
      assert.equal(load.inFlight, 3);
      gone.destroy();
      await until(() => load.inFlight === 2);
      for (const end of release) end();
      for (const answer of answers) assert.equal((await answer).status, 200);
      await until(() => load.inFlight === 0);
      // A request to an unknown route is counted and released too.
      assert.equal((await fetch(`http://127.0.0.1:${port}/nowhere`)).status, 404);
      await until(() => load.inFlight === 0);
    } finally {
      await app.close();
    }
    assert.equal(load.inFlight, 0);
  });

  it('measures the share of recent time spent at or over the busy level, an average over time', async () => {
    let clock = 0;
    const app = Fastify();
    const load = new RequestLoad(2, 1000, () => clock);
    load.track(app);
    const release: (() => void)[] = [];
    app.get('/held', () => new Promise((resolve) => release.push(() => resolve({ ok: true }))));
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const close = (value: number, expected: number) =>
      assert.ok(Math.abs(value - expected) < 1e-9, `${value} is not ${expected}`);
    try {
      const first = fetch(`http://127.0.0.1:${port}/held`);
      await until(() => release.length === 1);
      clock = 5000;
      close(load.busyShare(), 0); // one request in flight is not busy
      const second = fetch(`http://127.0.0.1:${port}/held`);
      await until(() => release.length === 2);
      clock = 6000;
      close(load.busyShare(), 1 - Math.exp(-1)); // busy for one time constant
      clock = 8000;
      close(load.busyShare(), 1 - Math.exp(-3));
      release.shift()!();
      assert.equal((await first).status, 200);
      await until(() => load.inFlight === 1);
      clock = 9000;
      close(load.busyShare(), (1 - Math.exp(-3)) * Math.exp(-1)); // idle since 8000
      release.shift()!();
      assert.equal((await second).status, 200);
    } finally {
      await app.close();
    }
  });
});
