import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pinnedPost, type Connector, type ResolvedAddress } from '../../src/services/pinned-request.js';
import { drain, startGateway, type TestGateway, US } from '../helpers/gateway.js';
import { post } from '../helpers/http.js';

// Self-signed for callback.example, valid until 2126: only for watching a TLS handshake.
const TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3gKJEBrkGreziNh5
Lg3UDTrcFAoYThrGn5u6wXih5+yhRANCAAQ77XEhrNrENDj0ravJ1YAXqpcwC0BW
RteiI5KmvWhnZTTfPRZZjEhqj1Tc6CsR34sJ+JmapeQzGDkrhoLRruDN
-----END PRIVATE KEY-----`;
const TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBqTCCAVCgAwIBAgIUUrjNFsgkfyANnJ6NcvOl+RwF/hEwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQY2FsbGJhY2suZXhhbXBsZTAgFw0yNjExMjYwMTA1NDRaGA8y
MTI2MTEwMjAxMDU0NFowGzEZMBcGA1UEAwwQY2FsbGJhY2suZXhhbXBsZTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABDvtcSGs2sQ0OPStq8nVgBeqlzALQFZG16Ij
kqa9aGdlNN89FlmMSGqPVNzoKxHfiwn4mZql5DMYOSuGgtGu4M2jcDBuMB0GA1Ud
DgQWBBQ6kYuJNt2Qa7YaIyrmvv0oXKEUGDAfBgNVHSMEGDAWgBQ6kYuJNt2Qa7Ya
Iyrmvv0oXKEUGDAPBgNVHRMBAf8EBTADAQH/MBsGA1UdEQQUMBKCEGNhbGxiYWNr
LmV4YW1wbGUwCgYIKoZIzj0EAwIDRwAwRAIgJiQcEOKCAM+g4Qiv3tHwX9FMoSfr
5YDkPSc6VONlTaICIFGqeLNb+4Z8MMgjfe3XvLwJEh9BvCKivv975ONEeqxJ
-----END CERTIFICATE-----`;

const ISSUE_URLS = [
  'http://[::ffff:127.0.0.1]/hook',
  'http://[::ffff:10.0.0.1]/hook',
  'http://[::ffff:a9fe:a9fe]/hook',
  'http://[::ffff:0:127.0.0.1]/hook',
  'http://[64:ff9b::127.0.0.1]/hook',
];

describe('callback_url at accept time', () => {
  let gw: TestGateway;
  beforeEach(async () => {
    gw = await startGateway({ CALLBACK_ALLOW_PRIVATE_NETWORKS: 'false' });
  });
  afterEach(() => gw.stop());

  it.each([
    ...ISSUE_URLS,
    'http://[::ffff:7f00:1]/hook',
    'http://[::127.0.0.1]/hook',
    'http://[2002:7f00:1::]/hook',
    'http://[2001::1]/hook',
    'http://[fe80::1]/hook',
    'http://2130706433/hook',
    'http://0x7f.1/hook',
    'http://localhost./hook',
  ])('refuses %s with 422 naming callback_url', async (callback_url) => {
    const res = await post(gw.app, '/api/sms/send', { to: [{ number: US }], message: 'x', callback_url });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'callback_url', message: expect.stringMatching(/private/) })]);
  });

  it('accepts a public IPv6 literal and attempts delivery to it', async () => {
    // Port 9 (discard) with a short timeout: offline the connect fails, online nothing listens.
    const strict = await startGateway({
      CALLBACK_ALLOW_PRIVATE_NETWORKS: 'false', WEBHOOK_TIMEOUT: '0.2', WEBHOOK_RETRY_ATTEMPTS: '0', SIMULATOR_DELIVERY_DELAY_MS: '600000',
    });
    try {
      const callback_url = 'http://[2001:4860:4860::8888]:9/hook';
      const res = await post(strict.app, '/api/sms/send', { to: [{ number: US }], message: 'x', callback_url });
      expect(res.status).toBeLessThan(300);
      await drain(strict.services);
      const attempts = await strict.services.callbacks.attemptsFor(res.body.messages[0].id);
      expect(attempts.length).toBeGreaterThan(0);
      for (const a of attempts) {
        expect(a.status).toBe('failed');
        expect(a.error).not.toMatch(/private|DNS/);
      }
    } finally {
      await strict.stop();
    }
  });
});

interface Seen {
  host: string | undefined;
  body: string;
  path: string | undefined;
}

describe('pinnedPost', () => {
  let server: Server;
  let port: number;
  let seen: Seen[];
  let respond: (req: IncomingMessage, res: ServerResponse) => void;

  beforeEach(async () => {
    seen = [];
    respond = (_req, res) => res.writeHead(204).end();
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ host: req.headers.host, body, path: req.url });
        respond(req, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  /** Records where a connection was meant to go, and takes it to the local server instead. */
  function recordingConnector(targets: Array<{ address: string; family: number; port: number }>): Connector {
    return (target) => {
      targets.push(target);
      return connect(port, '127.0.0.1');
    };
  }

  const base = { headers: { 'content-type': 'application/json' }, body: '{"a":1}', timeoutMs: 2000 };

  it('resolves once and connects to the checked address, not to a rebound answer', async () => {
    const answers: ResolvedAddress[][] = [[{ address: '93.184.215.14', family: 4 }], [{ address: '127.0.0.1', family: 4 }]];
    const asked: string[] = [];
    const targets: Array<{ address: string; family: number; port: number }> = [];
    const result = await pinnedPost(new URL('http://rebind.example:8080/hook?x=1'), {
      ...base, allowPrivateNetworks: false,
      resolve: async (host) => {
        asked.push(host);
        return answers.shift()!;
      },
      connect: recordingConnector(targets),
    });
    expect(result).toEqual({ ok: true, statusCode: 204 });
    expect(asked).toEqual(['rebind.example']);
    expect(targets).toEqual([{ address: '93.184.215.14', family: 4, port: 8080 }]);
    expect(seen).toEqual([{ host: 'rebind.example:8080', body: '{"a":1}', path: '/hook?x=1' }]);
  });

  it('refuses when any answer is private, without connecting', async () => {
    const targets: Array<{ address: string; family: number; port: number }> = [];
    const result = await pinnedPost(new URL('http://mixed.example/hook'), {
      ...base, allowPrivateNetworks: false,
      resolve: async () => [{ address: '93.184.215.14', family: 4 }, { address: '::ffff:7f00:1', family: 6 }],
      connect: recordingConnector(targets),
    });
    expect(result).toEqual({ ok: false, statusCode: null, error: 'callback host resolves to a private address', refused: true });
    expect(targets).toEqual([]);
  });

  it('connects to the resolved address itself, keeping the hostname in Host', async () => {
    // callback.example never resolves: reaching the server proves the socket went to the pinned address.
    const result = await pinnedPost(new URL(`http://callback.example:${port}/hook`), {
      ...base, allowPrivateNetworks: true, resolve: async () => [{ address: '127.0.0.1', family: 4 }],
    });
    expect(result).toEqual({ ok: true, statusCode: 204 });
    expect(seen).toEqual([{ host: `callback.example:${port}`, body: '{"a":1}', path: '/hook' }]);
  });

  it('falls back to the next checked address when the first refuses the connection', async () => {
    const result = await pinnedPost(new URL(`http://callback.example:${port}/hook`), {
      ...base, allowPrivateNetworks: true,
      resolve: async () => [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }],
    });
    expect(result).toEqual({ ok: true, statusCode: 204 });
    expect(seen).toHaveLength(1);
  });

  it('connects straight to a public IPv6 literal, without DNS', async () => {
    const targets: Array<{ address: string; family: number; port: number }> = [];
    const result = await pinnedPost(new URL('http://[2001:4860:4860::8888]:8443/hook'), {
      ...base, allowPrivateNetworks: false,
      resolve: async () => {
        throw new Error('must not be asked');
      },
      connect: recordingConnector(targets),
    });
    expect(result).toEqual({ ok: true, statusCode: 204 });
    expect(targets).toEqual([{ address: '2001:4860:4860::8888', family: 6, port: 8443 }]);
    expect(seen[0].host).toBe('[2001:4860:4860::8888]:8443');
  });

  it.each(ISSUE_URLS)('refuses %s at delivery too', async (url) => {
    const targets: Array<{ address: string; family: number; port: number }> = [];
    const result = await pinnedPost(new URL(url), { ...base, allowPrivateNetworks: false, connect: recordingConnector(targets) });
    expect(result).toMatchObject({ ok: false, refused: true, error: expect.stringMatching(/private/) });
    expect(targets).toEqual([]);
  });

  it('reaches a loopback literal when private networks are allowed', async () => {
    const result = await pinnedPost(new URL(`http://127.0.0.1:${port}/hook`), { ...base, allowPrivateNetworks: true });
    expect(result).toEqual({ ok: true, statusCode: 204 });
  });

  it('reports a DNS failure as a retryable error', async () => {
    const result = await pinnedPost(new URL('http://nowhere.example/hook'), {
      ...base, allowPrivateNetworks: false,
      resolve: async () => {
        throw new Error('getaddrinfo ENOTFOUND nowhere.example');
      },
    });
    expect(result).toEqual({ ok: false, statusCode: null, error: 'DNS lookup failed: getaddrinfo ENOTFOUND nowhere.example' });
  });

  it('does not hand a name back to the socket', async () => {
    const result = await pinnedPost(new URL('http://cname.example/hook'), {
      ...base, allowPrivateNetworks: true, resolve: async () => [{ address: 'localhost', family: 4 }],
    });
    expect(result).toMatchObject({ ok: false, statusCode: null });
    expect(seen).toEqual([]);
  });

  it('does not follow redirects', async () => {
    respond = (_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${port}/elsewhere` }).end('moved');
    const result = await pinnedPost(new URL(`http://127.0.0.1:${port}/hook`), { ...base, allowPrivateNetworks: true });
    expect(result).toEqual({ ok: false, statusCode: 302, error: 'HTTP 302' });
    expect(seen).toHaveLength(1);
  });

  it('reads and discards a response body', async () => {
    respond = (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(256 * 1024));
    const result = await pinnedPost(new URL(`http://127.0.0.1:${port}/hook`), { ...base, allowPrivateNetworks: true });
    expect(result).toEqual({ ok: true, statusCode: 200 });
  });

  it('times out a receiver that never answers', async () => {
    respond = () => undefined;
    const started = Date.now();
    const result = await pinnedPost(new URL(`http://127.0.0.1:${port}/hook`), { ...base, timeoutMs: 150, allowPrivateNetworks: true });
    expect(result).toEqual({ ok: false, statusCode: null, error: 'timed out' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('sends the hostname as TLS SNI and checks the certificate', async () => {
    const servernames: Array<string | undefined> = [];
    const tlsServer = createTlsServer({
      key: TLS_KEY, cert: TLS_CERT,
      SNICallback: (name, cb) => {
        servernames.push(name);
        cb(null, undefined);
      },
    }, (socket) => socket.destroy());
    tlsServer.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    try {
      const tlsPort = (tlsServer.address() as AddressInfo).port;
      const result = await pinnedPost(new URL(`https://callback.example:${tlsPort}/hook`), {
        ...base, allowPrivateNetworks: true, resolve: async () => [{ address: '127.0.0.1', family: 4 }],
      });
      expect(servernames).toEqual(['callback.example']);
      // Self-signed (and, on a clock before 2026, not yet valid): refused either way.
      expect(result).toMatchObject({ ok: false, statusCode: null, error: expect.stringMatching(/certificate/i) });
    } finally {
      await new Promise((r) => tlsServer.close(r));
    }
  });
});
