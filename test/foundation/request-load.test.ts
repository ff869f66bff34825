import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { RequestLoad } from '../../src/http/request-load.ts';

/** Polls until `holds` answers true, for at most 10 s. */
async function until(holds: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!holds()) {
    if (Date.now() > deadline) throw new Error(`not reached in 10 s: ${holds.toString()}`);
    await sleep(5);
  }
}

describe('RequestLoad', () => {
  it('counts requests from arrival to the end of the response, or of the connection', async () => {
    const app = Fastify();
    const load = new RequestLoad();
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
      // Unknown routes and refused requests are counted and released too.
      assert.equal((await fetch(`http://127.0.0.1:${port}/nowhere`)).status, 404);
      await until(() => load.inFlight === 0);
    } finally {
      await app.close();
    }
    assert.equal(load.inFlight, 0);
  });
});
