import { createServer, type Server } from 'node:http';
import twilio from 'twilio';
import { afterEach, describe, expect, it } from 'vitest';
import { drain, US } from '../helpers/gateway.js';
import { plivoDriver, type ProviderDriver } from '../helpers/providers.js';
import type { PlivoFake } from '../providers/fakes/plivo-fake.js';
import { startTwilioGateway, type TwilioSetup } from './setup.js';

let t: TwilioSetup | undefined;
let driver: (ProviderDriver & { fake: PlivoFake }) | undefined;
let server: Server | undefined;

afterEach(async () => {
  await t?.gw.stop();
  await driver?.close();
  server?.close();
  t = driver = server = undefined;
});

describe('a Twilio-SDK message leaving through another provider', () => {
  it('goes out through Plivo, takes Plivo\'s report, and tells the app in Twilio\'s format', async () => {
    const received: Array<{ signature: string; params: Record<string, string> }> = [];
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        received.push({ signature: String(req.headers['x-twilio-signature']), params: Object.fromEntries(new URLSearchParams(raw)) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const callbackUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/status`;

    driver = await plivoDriver();
    t = await startTwilioGateway({ ...driver.env, SIMULATOR_ENABLED: 'false' });

    const created = await t.client.messages.create({ to: US, from: '+14155550100', body: 'Hello through Plivo', statusCallback: callbackUrl });
    expect(created.status).toBe('queued');
    await drain(t.gw.services);

    // Plivo got it, with the text as sent and the sender asked for.
    expect(driver.receivedTexts()).toEqual(['Hello through Plivo']);
    expect(driver.fake.messages[0].src).toBe('+14155550100');
    expect((await t.client.messages(created.sid).fetch()).status).toBe('sent');

    // Plivo's own signed report comes back to the gateway.
    const report = await driver.fake.postStatusCallback(driver.acceptedIds()[0], 'delivered', { totalAmount: '0.00650' });
    expect(report.status).toBe(200);
    await drain(t.gw.services);

    const fetched = await t.client.messages(created.sid).fetch();
    expect(fetched.status).toBe('delivered');
    expect(fetched.price).toBe('-0.00650');

    expect(received.map((r) => r.params.MessageStatus)).toEqual(['sending', 'sent', 'delivered']);
    for (const r of received) {
      expect(r.params.MessageSid).toBe(created.sid);
      expect(twilio.validateRequest(t.key.key, r.signature, callbackUrl, r.params)).toBe(true);
    }
  });
});
