/**
 * AWS SNS provider against a loopback SNS (test/providers/fakes/aws-sns-fake.ts) that checks the
 * query-protocol Publish form and recomputes every SigV4 signature itself.
 * Docs followed: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html,
 * https://docs.aws.amazon.com/sns/latest/dg/sms_publish-to-phone.html,
 * https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { ValidationError } from '../../src/domain/errors.js';
import type { SmsType } from '../../src/domain/message-status.js';
import { AwsSnsProvider } from '../../src/providers/aws_sns/client.js';
import { awsSnsProvider } from '../../src/providers/aws_sns/index.js';
import { readAwsSnsSettings, type AwsSnsSettings } from '../../src/providers/aws_sns/settings.js';
import type { EnvReader } from '../../src/providers/definition.js';
import type { OutgoingSms, SmsProvider } from '../../src/providers/provider.js';
import {
  FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, sigV4Signature, snsErrors, startSnsFake, type SnsFake, type SnsFakeOptions,
} from './fakes/aws-sns-fake.js';

const fakes: SnsFake[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function fake(options?: SnsFakeOptions): Promise<SnsFake> {
  const f = await startSnsFake(options);
  fakes.push(f);
  return f;
}

function settings(endpoint: string, overrides: Partial<AwsSnsSettings> = {}): AwsSnsSettings {
  return {
    accessKeyId: FAKE_ACCESS_KEY_ID, secretAccessKey: FAKE_SECRET_ACCESS_KEY, region: 'us-east-1', endpoint,
    senderId: undefined, maxPriceUsd: undefined, ...overrides,
  };
}

function sms(overrides: Partial<OutgoingSms> = {}): OutgoingSms {
  return {
    id: 'msg_01', to: '+14155552671', from: undefined, body: 'Your code is 123456', messageType: 'text', encoding: 'GSM-7',
    segments: 1, smsType: 'otp', statusCallbackUrl: 'https://gw.example/api/webhooks/aws_sns', validitySeconds: undefined, ...overrides,
  };
}

const inTime = () => AbortSignal.timeout(5_000);

describe('the fake SNS signature check', () => {
  // AWS SigV4 test-suite vectors, so the fake's verifier is known right before it judges the SDK:
  // https://docs.aws.amazon.com/IAM/latest/UserGuide/signature-v4-test-suite.html (get-vanilla,
  // get-vanilla-query-order-key-case) and awslabs/aws-c-auth
  // tests/aws-signing-test-suite/v4/post-x-www-form-urlencoded/header-signed-request.txt.
  const suite = { amzDate: '20150830T123600Z', region: 'us-east-1', service: 'service', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
  const getHeaders = { host: 'example.amazonaws.com', 'x-amz-date': '20150830T123600Z' };
  const emptySha256 = createHash('sha256').update('').digest('hex');

  it('reproduces get-vanilla', () => {
    expect(sigV4Signature({ ...suite, method: 'GET', url: '/', headers: getHeaders, signedHeaders: ['host', 'x-amz-date'], payloadSha256: emptySha256 }))
      .toBe('5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  });

  it('reproduces get-vanilla-query-order-key-case (query sorted)', () => {
    expect(sigV4Signature({
      ...suite, method: 'GET', url: '/?Param2=value2&Param1=value1', headers: getHeaders, signedHeaders: ['host', 'x-amz-date'], payloadSha256: emptySha256,
    })).toBe('b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500');
  });

  it('reproduces post-x-www-form-urlencoded with a signed body hash', () => {
    const payloadSha256 = createHash('sha256').update('Param1=value1').digest('hex');
    expect(payloadSha256).toBe('9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e');
    expect(sigV4Signature({
      ...suite, method: 'POST', url: '/', payloadSha256,
      headers: { ...getHeaders, 'content-type': 'application/x-www-form-urlencoded', 'content-length': '13', 'x-amz-content-sha256': payloadSha256 },
      signedHeaders: ['content-length', 'content-type', 'host', 'x-amz-content-sha256', 'x-amz-date'],
    })).toBe('d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b');
  });
});

describe('AwsSnsProvider.send', () => {
  it('publishes a signed query-protocol form and takes the MessageId', async () => {
    const sns = await fake({ reply: () => ({ kind: 'published', messageId: '9b888f80-15f7-5c30-81a2-c4511a3f5229' }) });
    const provider = new AwsSnsProvider(settings(sns.url), fetch);

    const outcome = await provider.send(sms(), inTime());

    expect(outcome).toEqual({ kind: 'accepted', providerMessageId: '9b888f80-15f7-5c30-81a2-c4511a3f5229' });
    expect(sns.requests).toHaveLength(1);
    const [request] = sns.requests;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/');
    expect(request.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    expect(request.credentialScope).toMatch(new RegExp(`^${FAKE_ACCESS_KEY_ID}/\\d{8}/us-east-1/sns/aws4_request$`));
    expect(request.form).toEqual({
      Action: 'Publish',
      Version: '2010-03-31',
      PhoneNumber: '+14155552671',
      Message: 'Your code is 123456',
      'MessageAttributes.entry.1.Name': 'AWS.SNS.SMS.SMSType',
      'MessageAttributes.entry.1.Value.DataType': 'String',
      'MessageAttributes.entry.1.Value.StringValue': 'Transactional',
    });
  });

  it.each<[SmsType, string]>([
    ['otp', 'Transactional'], ['transactional', 'Transactional'], ['alert', 'Transactional'],
    ['promotional', 'Promotional'], ['marketing', 'Promotional'],
  ])('sends sms_type %s as AWS.SNS.SMS.SMSType %s', async (smsType, snsType) => {
    const sns = await fake();
    await new AwsSnsProvider(settings(sns.url), fetch).send(sms({ smsType }), inTime());
    expect(sns.requests[0].publish?.attributes['AWS.SNS.SMS.SMSType']).toEqual({ dataType: 'String', stringValue: snsType });
  });

  it('adds the configured sender ID (String) and max price (Number)', async () => {
    const sns = await fake();
    const provider = new AwsSnsProvider(settings(sns.url, { senderId: 'MyBrand', maxPriceUsd: '0.05' }), fetch);
    expect((await provider.send(sms({ smsType: 'marketing' }), inTime())).kind).toBe('accepted');
    expect(sns.requests[0].publish?.attributes).toEqual({
      'AWS.SNS.SMS.SMSType': { dataType: 'String', stringValue: 'Promotional' },
      'AWS.SNS.SMS.SenderID': { dataType: 'String', stringValue: 'MyBrand' },
      'AWS.SNS.SMS.MaxPrice': { dataType: 'Number', stringValue: '0.05' },
    });
  });

  it("uses the message's own sender: a name as SenderID, a number as the origination number", async () => {
    const sns = await fake();
    const provider = new AwsSnsProvider(settings(sns.url, { senderId: 'Default' }), fetch);
    await provider.send(sms({ from: 'Shop24' }), inTime());
    await provider.send(sms({ from: '+18005550123' }), inTime());
    expect(sns.requests[0].publish?.attributes['AWS.SNS.SMS.SenderID']).toEqual({ dataType: 'String', stringValue: 'Shop24' });
    expect(sns.requests[1].publish?.attributes['AWS.MM.SMS.OriginationNumber']).toEqual({ dataType: 'String', stringValue: '+18005550123' });
    expect(sns.requests[1].publish?.attributes['AWS.SNS.SMS.SenderID']).toBeUndefined();
  });

  it('delivers non-GSM text intact as UTF-8', async () => {
    const sns = await fake();
    const body = 'Код 4821 — ¡olé! 😀 中文 €';
    const outcome = await new AwsSnsProvider(settings(sns.url), fetch).send(sms({ body, messageType: 'unicode', encoding: 'UCS-2' }), inTime());
    expect(outcome.kind).toBe('accepted');
    expect(sns.requests[0].publish?.message).toBe(body);
    // Percent-encoded UTF-8 bytes on the wire: the emoji is one 4-byte sequence, not two UTF-16 halves.
    expect(sns.requests[0].rawBody).toContain('%F0%9F%98%80');
  });

  it('refuses flash and binary without calling SNS', async () => {
    const sns = await fake();
    const provider = new AwsSnsProvider(settings(sns.url), fetch);
    for (const messageType of ['flash', 'binary'] as const) {
      expect(await provider.send(sms({ messageType }), inTime())).toMatchObject({ kind: 'rejected', code: 'UNSUPPORTED' });
    }
    expect(sns.requests).toHaveLength(0);
  });

  it('a wrong secret is refused by SNS (SignatureDoesNotMatch) and comes out as retry PROVIDER_AUTH', async () => {
    const sns = await fake();
    const outcome = await new AwsSnsProvider(settings(sns.url, { secretAccessKey: 'not-the-secret' }), fetch).send(sms(), inTime());
    expect(outcome).toMatchObject({ kind: 'retry', code: 'PROVIDER_AUTH', providerErrorCode: 'SignatureDoesNotMatch' });
    expect(sns.requests).toHaveLength(1);
    expect(sns.requests[0].publish).toBeUndefined();
  });

  it('an unknown access key (InvalidClientTokenId) is retry PROVIDER_AUTH', async () => {
    const sns = await fake();
    const outcome = await new AwsSnsProvider(settings(sns.url, { accessKeyId: 'AKIAUNKNOWN000000000' }), fetch).send(sms(), inTime());
    expect(outcome).toMatchObject({ kind: 'retry', code: 'PROVIDER_AUTH', providerErrorCode: 'InvalidClientTokenId' });
  });

  it('an invalid phone number is rejected INVALID_NUMBER', async () => {
    const sns = await fake({ reply: (p) => snsErrors.invalidPhoneNumber(p.phoneNumber ?? '') });
    const outcome = await new AwsSnsProvider(settings(sns.url), fetch).send(sms({ to: '+999123' }), inTime());
    expect(outcome).toEqual({
      kind: 'rejected', code: 'INVALID_NUMBER', providerErrorCode: 'InvalidParameter',
      message: 'Invalid parameter: PhoneNumber Reason: +999123 is not valid to publish to',
    });
  });

  it('another invalid parameter is rejected PROVIDER_REJECTED', async () => {
    const sns = await fake({ reply: () => snsErrors.invalidParameter('SenderID') });
    const outcome = await new AwsSnsProvider(settings(sns.url), fetch).send(sms(), inTime());
    expect(outcome).toMatchObject({ kind: 'rejected', code: 'PROVIDER_REJECTED', providerErrorCode: 'InvalidParameter' });
  });

  it('throttling, as 429 Throttled or 400 Throttling, is retry PROVIDER_THROTTLED', async () => {
    for (const [reply, code] of [[snsErrors.throttled(), 'Throttled'], [snsErrors.throttling(), 'Throttling']] as const) {
      const sns = await fake({ reply: () => reply });
      const outcome = await new AwsSnsProvider(settings(sns.url), fetch).send(sms(), inTime());
      expect(outcome).toMatchObject({ kind: 'retry', code: 'PROVIDER_THROTTLED', providerErrorCode: code });
    }
  });

  it('InternalError 500, or a proxy 502 page, is retry PROVIDER_UNAVAILABLE', async () => {
    const internal = await fake({ reply: () => snsErrors.internalError() });
    expect(await new AwsSnsProvider(settings(internal.url), fetch).send(sms(), inTime()))
      .toMatchObject({ kind: 'retry', code: 'PROVIDER_UNAVAILABLE', providerErrorCode: 'InternalError' });
    const proxy = await fake({ reply: () => ({ kind: 'raw', status: 502, contentType: 'text/html', body: '<html>Bad Gateway</html>' }) });
    expect(await new AwsSnsProvider(settings(proxy.url), fetch).send(sms(), inTime()))
      .toMatchObject({ kind: 'retry', code: 'PROVIDER_UNAVAILABLE' });
  });

  it('a 200 that is not a PublishResponse, or has no MessageId, is unknown (SNS may have taken it)', async () => {
    const garbled = await fake({ reply: () => ({ kind: 'raw', status: 200, contentType: 'text/xml', body: '<PublishResponse><Publish' }) });
    expect(await new AwsSnsProvider(settings(garbled.url), fetch).send(sms(), inTime())).toMatchObject({ kind: 'unknown' });
    const empty = await fake({ reply: () => ({ kind: 'raw', status: 200, contentType: 'text/xml', body: '<PublishResponse><PublishResult/></PublishResponse>' }) });
    expect(await new AwsSnsProvider(settings(empty.url), fetch).send(sms(), inTime())).toMatchObject({ kind: 'unknown' });
  });

  it('a refused connection is retry (nothing reached SNS)', async () => {
    const port = await closedPort();
    const outcome = await new AwsSnsProvider(settings(`http://127.0.0.1:${port}`), fetch).send(sms(), inTime());
    expect(outcome).toMatchObject({ kind: 'retry', code: 'PROVIDER_UNREACHABLE' });
  });

  it('no answer before the deadline is unknown, and SNS saw exactly one request (the SDK does not retry)', async () => {
    const sns = await fake({ reply: () => ({ kind: 'silent' }) });
    const outcome = await new AwsSnsProvider(settings(sns.url), fetch).send(sms(), AbortSignal.timeout(300));
    expect(outcome).toMatchObject({ kind: 'unknown', code: 'PROVIDER_TIMEOUT' });
    await new Promise((r) => setTimeout(r, 500));
    expect(sns.requests).toHaveLength(1);
  });

  it("reads nothing from the machine's AWS variables or files: keys, region and attempts are the settings'", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aws-home-'));
    writeFileSync(join(dir, 'config'), '[default]\nregion = eu-west-3\nmax_attempts = 5\nuse_fips_endpoint = true\nretry_mode = adaptive\n');
    writeFileSync(join(dir, 'credentials'), '[default]\naws_access_key_id = AKIAFROMFILE00000000\naws_secret_access_key = from-file\n');
    const machine = {
      AWS_CONFIG_FILE: join(dir, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
      AWS_MAX_ATTEMPTS: '5', AWS_REGION: 'eu-west-3', AWS_ACCESS_KEY_ID: 'AKIAFROMENV000000000', AWS_SECRET_ACCESS_KEY: 'from-env',
      AWS_USE_FIPS_ENDPOINT: 'true', AWS_EC2_METADATA_DISABLED: 'true',
    };
    const saved = Object.fromEntries(Object.keys(machine).map((k) => [k, process.env[k]]));
    Object.assign(process.env, machine);
    try {
      // A 500 is what the SDK would retry with max_attempts 5.
      const sns = await fake({ reply: () => snsErrors.internalError() });
      const outcome = await new AwsSnsProvider(settings(sns.url), fetch).send(sms(), inTime());
      expect(outcome).toMatchObject({ kind: 'retry', code: 'PROVIDER_UNAVAILABLE' });
      expect(sns.requests).toHaveLength(1);
      expect(sns.requests[0].credentialScope).toMatch(new RegExp(`^${FAKE_ACCESS_KEY_ID}/\\d{8}/us-east-1/sns/aws4_request$`));
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('goes through the injected fetch', async () => {
    const sns = await fake();
    const seen: string[] = [];
    const recordingFetch: typeof fetch = (input, init) => {
      seen.push(`${init?.method} ${String(input)}`);
      return fetch(input, init);
    };
    const provider = awsSnsProvider.create(settings(sns.url), { fetch: recordingFetch });
    expect((await provider.send(sms(), inTime())).kind).toBe('accepted');
    expect(seen).toEqual([`POST ${sns.url}/`]);
  });
});

describe('AwsSnsProvider capabilities and webhook', () => {
  const provider: SmsProvider = new AwsSnsProvider(settings('http://127.0.0.1:9'), fetch);

  it('says what SNS cannot do', () => {
    expect(provider.capabilities).toMatchObject({ messageTypes: ['text', 'unicode'], deliveryReports: false, unicode: true });
    expect(provider.capabilities.lookup).toMatch(/^cannot/);
    expect(provider.lookup).toBeUndefined();
  });

  it('refuses anything posted to its webhook: SNS sends no SMS delivery reports', () => {
    const post = () => provider.parseWebhook({
      url: 'https://gw.example/api/webhooks/aws_sns', method: 'POST', headers: { 'content-type': 'application/json' },
      rawBody: '{"status":"delivered"}', body: { status: 'delivered' }, query: {},
    });
    let thrown: unknown;
    try {
      post();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    expect(thrown).toMatchObject({ status: 422, message: expect.stringMatching(/posts no delivery reports/) });
  });
});

describe('aws_sns settings', () => {
  function env(vars: Record<string, string>): EnvReader {
    return {
      str: (name) => vars[name]?.trim() || undefined,
      url: (name, fallback) => (vars[name]?.trim() || fallback).replace(/\/+$/, ''),
    };
  }
  const keys = { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' };

  it('is disabled until both keys are set', () => {
    expect(readAwsSnsSettings(env({}))).toBeUndefined();
    expect(readAwsSnsSettings(env({ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' }))).toBeUndefined();
    expect(awsSnsProvider.requiredVariables).toEqual(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']);
  });

  it('defaults to us-east-1 and the SDK endpoint; reads the optional sender and price', () => {
    expect(readAwsSnsSettings(env(keys))).toEqual({
      accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret', region: 'us-east-1', endpoint: undefined, senderId: undefined, maxPriceUsd: undefined,
    });
    expect(readAwsSnsSettings(env({
      ...keys, AWS_REGION: 'eu-west-1', AWS_SNS_BASE_URL: 'http://127.0.0.1:4566/', AWS_SNS_SENDER_ID: 'MyBrand', AWS_SNS_MAX_PRICE: '0.50',
    }))).toMatchObject({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:4566', senderId: 'MyBrand', maxPriceUsd: '0.50' });
  });

  it.each([
    ['AWS_SNS_SENDER_ID', 'My Brand'], ['AWS_SNS_SENDER_ID', '123456'], ['AWS_SNS_SENDER_ID', 'WayTooLongName'],
    ['AWS_SNS_MAX_PRICE', 'cheap'], ['AWS_SNS_MAX_PRICE', '0'], ['AWS_SNS_MAX_PRICE', '0.123456'], ['AWS_REGION', 'us east 1'],
  ])('refuses %s=%s naming the variable', (name, value) => {
    expect(() => readAwsSnsSettings(env({ ...keys, [name]: value }))).toThrow(ConfigError);
    expect(() => readAwsSnsSettings(env({ ...keys, [name]: value }))).toThrow(name);
  });
});

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
