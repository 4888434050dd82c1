import { once } from 'node:events';
import { Agent, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqlite } from '../../src/store/database.js';
import { dropDatabase, freshDatabaseUrl, onPostgres } from '../helpers/database.js';
import { startGateway, type TestGateway, US } from '../helpers/gateway.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

const body = JSON.stringify({ to: [{ number: US }], message: 'in progress while stopping' });

/** POST /api/sms/send on `agent`, its body held back until `finish()`. */
function sendInParts(port: number, agent: Agent) {
  let finish!: () => void;
  const answer = new Promise<IncomingMessage>((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, method: 'POST', path: '/api/sms/send', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
    req.write(body.slice(0, 10));
    finish = () => req.end(body.slice(10));
  });
  return { answer, finish };
}

/** Starts stopping the gateway; `stopped()` tells whether it has finished. */
function startStopping(gateway: TestGateway) {
  gw = undefined;
  let done = false;
  const stopping = gateway.stop().then(() => { done = true; });
  return { stopping, stopped: () => done };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listening(env: Record<string, string>) {
  const gateway = await startGateway(env);
  // Stopped by the test; by afterEach if the test fails first.
  gw = gateway;
  await gateway.start();
  return { gateway, port: (gateway.app.server.address() as AddressInfo).port };
}

/** A listening gateway with a send in progress on a keep-alive connection: its headers are in, its body held back. */
async function requestInProgress(env: Record<string, string>) {
  const { gateway, port } = await listening(env);
  const agent = new Agent({ keepAlive: true });
  const arrived = once(gateway.app.server, 'request');
  const { answer, finish } = sendInParts(port, agent);
  // The tests that expect it to fail await it themselves.
  answer.catch(() => undefined);
  await arrived;
  return { gateway, agent, answer, finish };
}

describe('stopping the HTTP server', () => {
  it('answers a request in progress on a keep-alive connection with Connection: close, and stops without waiting for the keep-alive timeout', async () => {
    // A deadline far away: only closing the connection after its reply ends this stop soon.
    const { gateway, agent, answer, finish } = await requestInProgress({ SHUTDOWN_TIMEOUT_SECONDS: '60' });
    const { stopping, stopped } = startStopping(gateway);
    await sleep(50);
    expect(stopped()).toBe(false);
    finish();
    const res = await answer;
    expect(res.statusCode).toBe(200);
    expect(res.headers.connection).toBe('close');
    // Fastify keeps an idle connection 72 s, the deadline is 60 s: the test's own timeout is far below both.
    await stopping;
    agent.destroy();
  }, 20_000);

  it('cuts a connection still busy at SHUTDOWN_TIMEOUT_SECONDS', async () => {
    // Its body never comes.
    const { gateway, agent, answer } = await requestInProgress({ SHUTDOWN_TIMEOUT_SECONDS: '1' });
    const started = Date.now();
    const { stopping } = startStopping(gateway);
    await expect(answer).rejects.toThrow(/socket hang up|ECONNRESET/);
    await stopping;
    // Cut by the deadline, not at once (the request was in progress, so its connection was not idle).
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    agent.destroy();
  }, 20_000);

  it('is not held by a request whose client hung up halfway through its body', async () => {
    const { gateway, agent } = await requestInProgress({ SHUTDOWN_TIMEOUT_SECONDS: '60' });
    agent.destroy();
    await sleep(100);
    // Counted as in progress forever, it would hold this stop for the 60 s deadline.
    await startStopping(gateway).stopping;
  }, 20_000);

  it.skipIf(onPostgres)('waits for a handler still running after its client hung up before the database and the audit log are closed', async () => {
    // The test's own database, so it is still there to read after the stop.
    const url = await freshDatabaseUrl();
    const { gateway, port } = await listening({ SHUTDOWN_TIMEOUT_SECONDS: '60', DATABASE_URL: url });
    // Another connection holds SQLite's write lock: the send's handler waits for it.
    const other = openSqlite(url.slice('sqlite:'.length));
    other.prepare('begin immediate').run();
    try {
      const agent = new Agent({ keepAlive: false });
      const arrived = once(gateway.app.server, 'request');
      const { answer, finish } = sendInParts(port, agent);
      answer.catch(() => undefined);
      finish();
      await arrived;
      // The body (a few bytes, already sent) is read and the handler waits for the lock well within this.
      await sleep(100);
      agent.destroy();
      const { stopping, stopped } = startStopping(gateway);
      await sleep(200);
      // No connection is left, but the handler has not replied: the database must stay open.
      expect(stopped()).toBe(false);
      other.prepare('commit').run();
      await stopping;
    } finally {
      if (other.inTransaction) other.prepare('rollback').run();
      other.close();
    }
    // The handler's message was stored before the database closed.
    const stored = openSqlite(url.slice('sqlite:'.length));
    expect((stored.prepare('select count(*) n from messages').get() as { n: number }).n).toBe(1);
    // And its audit row, appended when it replied, before the audit log's last flush.
    expect((stored.prepare('select count(*) n from audit_log').get() as { n: number }).n).toBe(1);
    stored.close();
    await dropDatabase(url);
  }, 20_000);
});
