/**
 * The official twilio SDK pointed at a gateway listening on loopback, the way an application
 * moving from Twilio would point it (see README "Moving from Twilio").
 */
import twilio from 'twilio';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/process.js';

export interface TwilioSetup {
  gw: TestGateway;
  publicUrl: string;
  key: { id: string; key: string; account_sid: string };
  client: twilio.Twilio;
}

/** The SDK for a key: Basic auth with the key's account SID and the key, both API bases on the gateway. */
export function sdkFor(publicUrl: string, accountSid: string, key: string): twilio.Twilio {
  const client = twilio(accountSid, key);
  client.api.baseUrl = publicUrl;
  client.verify.baseUrl = publicUrl;
  return client;
}

/** A listening gateway (keys required) and an SDK client for a key with the scopes a Twilio app needs. */
export async function startTwilioGateway(env: Record<string, string> = {}): Promise<TwilioSetup> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const gw = await startGateway({ API_KEY_REQUIRED: 'true', CALLBACK_ALLOW_PRIVATE_NETWORKS: 'true', WEBHOOK_RETRY_DELAY: '0', ...env, PORT: String(port), PUBLIC_URL: publicUrl });
  try {
    await gw.app.listen({ port, host: '127.0.0.1' });
  } catch (err) {
    await gw.stop();
    throw err;
  }
  const key = await gw.services.keys.create('twilio-app', ['sms:send', 'read', 'otp']);
  return { gw, publicUrl, key, client: sdkFor(publicUrl, key.account_sid, key.key) };
}

/** What a call to the SDK threw: twilio's RestException carries Twilio's code and the HTTP status. */
export async function restError(call: Promise<unknown>): Promise<{ code: number; status: number; message: string; moreInfo: string }> {
  try {
    await call;
  } catch (err) {
    if (err instanceof twilio.RestException) return { code: err.code!, status: err.status, message: err.message, moreInfo: err.moreInfo! };
    throw err;
  }
  throw new Error('the call succeeded');
}
