import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway, US } from '../helpers/gateway.js';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

describe('stopping the HTTP server', () => {
  it('answers a request in progress on a keep-alive connection, then closes that connection rather than wait for its keep-alive timeout', async () => {
    gw = await startGateway();
    await gw.start();
    const { port } = gw.app.server.address() as AddressInfo;
    const agent = new Agent({ keepAlive: true });
    const body = JSON.stringify({ to: [{ number: US }], message: 'in progress while stopping' });
    // The request is in progress (its body half sent) when stopping begins, and ends after.
    let finishBody!: () => void;
    const answered = new Promise<number>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1', port, method: 'POST', path: '/api/sms/send', agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.write(body.slice(0, 10));
      finishBody = () => req.end(body.slice(10));
    });
    await new Promise((r) => setTimeout(r, 50));
    const stopping = gw.stop();
    gw = undefined;
    let stopped = false;
    void stopping.then(() => { stopped = true; });
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped).toBe(false);
    finishBody();
    expect(await answered).toBe(200);
    // Fastify keeps an idle connection 72 s; the test's own timeout is far below that.
    await stopping;
    agent.destroy();
  }, 20_000);
});
