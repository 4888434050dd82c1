import { lookup } from 'node:dns/promises';
import { request } from 'node:http';
import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { isPrivateAddress, isPrivateHost } from '../domain/network-address.js';

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Answers every address of a hostname; injectable so tests can play a rebinding DNS server. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** Opens the TCP connection to one checked address; injectable so tests can see where it goes. */
export type Connector = (target: { address: string; family: number; port: number }) => Socket;

export type PinnedPostResult = { ok: true; statusCode: number } | { ok: false; statusCode: number | null; error: string; refused?: boolean };

export interface PinnedPostOptions {
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Skips the private-address refusal; the connection is still pinned to what was resolved. */
  allowPrivateNetworks: boolean;
  resolve?: Resolver;
  connect?: Connector;
}

const systemResolver: Resolver = (hostname) => lookup(hostname, { all: true });
const systemConnector: Connector = ({ address, port }) => tcpConnect({ host: address, port });

const failure = (error: string, refused?: boolean): PinnedPostResult =>
  refused ? { ok: false, statusCode: null, error, refused } : { ok: false, statusCode: null, error };

/**
 * POSTs to a URL whose host is resolved exactly once, checked, and then connected to by address.
 * Letting the HTTP client resolve again after the check would let a DNS answer with a short TTL
 * swap a public address for an internal one (DNS rebinding). The Host header, TLS SNI and the
 * certificate check still use the URL's hostname. Redirects are not followed; the response body
 * is read and discarded. Never throws: every failure is a result.
 */
export async function pinnedPost(url: URL, options: PinnedPostOptions): Promise<PinnedPostResult> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return failure(`unsupported protocol ${url.protocol}`, true);
  const addresses = await pin(url, options);
  if (!Array.isArray(addresses)) return addresses;
  return exchange(url, addresses, options);
}

async function pin(url: URL, options: PinnedPostOptions): Promise<ResolvedAddress[] | PinnedPostResult> {
  if (!options.allowPrivateNetworks && isPrivateHost(url.hostname)) return failure('callback host is private or loopback', true);
  const host = bareHost(url);
  const literal = isIP(host);
  if (literal) return [{ address: host, family: literal }];
  let addresses: ResolvedAddress[];
  try {
    addresses = await (options.resolve ?? systemResolver)(host);
  } catch (err) {
    return failure(`DNS lookup failed: ${(err as Error).message}`);
  }
  if (addresses.length === 0) return failure('DNS lookup failed: no addresses');
  // A name handed to the socket would be resolved again, unchecked.
  if (addresses.some((a) => !isIP(a.address))) return failure('DNS lookup failed: answer is not an IP address');
  if (!options.allowPrivateNetworks && addresses.some((a) => isPrivateAddress(a.address))) {
    return failure('callback host resolves to a private address', true);
  }
  return addresses;
}

function bareHost(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

/**
 * Tries the checked addresses in the resolver's order and keeps the first that accepts the
 * connection: all of them passed the check, and trying only the first would break a
 * `localhost` receiver that listens on 127.0.0.1 when ::1 is answered first.
 */
async function dial(addresses: ResolvedAddress[], port: number, connect: Connector, signal: AbortSignal): Promise<Socket> {
  let lastError: Error = new Error('no address to connect to');
  for (const { address, family } of addresses) {
    if (signal.aborted) break;
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const socket = connect({ address, family, port });
        const onAbort = () => socket.destroy(new Error('timed out'));
        signal.addEventListener('abort', onAbort, { once: true });
        socket.once('connect', () => {
          signal.removeEventListener('abort', onAbort);
          resolve(socket);
        });
        // Stays attached after the connect (then a no-op): an error before the HTTP client
        // adds its own listener must not become an uncaught exception.
        socket.once('error', (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        });
      });
    } catch (err) {
      lastError = err as Error;
    }
  }
  throw lastError;
}

function exchange(url: URL, addresses: ResolvedAddress[], options: PinnedPostOptions): Promise<PinnedPostResult> {
  const https = url.protocol === 'https:';
  const port = Number(url.port) || (https ? 443 : 80);
  const host = bareHost(url);
  const aborter = new AbortController();
  return new Promise<PinnedPostResult>((resolve) => {
    // Set once the status line arrived: a failure while draining the body does not undo it.
    let response: PinnedPostResult | undefined;
    const finish = (result: PinnedPostResult) => {
      clearTimeout(timer);
      aborter.abort();
      resolve(result);
    };
    const timer = setTimeout(() => {
      req.destroy();
      finish(response ?? failure('timed out'));
    }, options.timeoutMs);
    const req = request({
      method: 'POST',
      path: `${url.pathname}${url.search}`,
      setHost: false,
      headers: { ...options.headers, host: url.host, 'content-length': String(Buffer.byteLength(options.body)) },
      // No agent: a pooled socket could have been opened to an address checked for another URL.
      createConnection: (_opts, oncreate) => {
        dial(addresses, port, options.connect ?? systemConnector, aborter.signal).then(
          (socket) => oncreate(null, https
            // SNI must not carry an IP literal; without it the certificate is matched against `host`.
            ? tlsConnect({ socket, host, servername: isIP(host) ? undefined : host })
            : socket),
          (err: Error) => oncreate(err, undefined as unknown as Socket),
        );
        return undefined;
      },
    }, (res) => {
      const status = res.statusCode ?? 0;
      response = status >= 200 && status < 300 ? { ok: true, statusCode: status } : { ok: false, statusCode: status, error: `HTTP ${status}` };
      const done = () => finish(response!);
      res.on('end', done).on('error', done).on('close', done);
      res.resume();
    });
    req.on('error', (err) => finish(response ?? failure(err.message)));
    req.end(options.body);
  });
}
