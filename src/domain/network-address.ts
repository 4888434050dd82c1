import { isIP } from 'node:net';

// Everything here guards callbacks against SSRF: an application-supplied URL must not make the
// gateway talk to its own host, its private network, or the cloud metadata service.

const V4_BLOCKED: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8], // "this network": 0.0.0.0 reaches the local host on Linux
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT, provider-internal
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, home of 169.254.169.254 metadata endpoints
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments (DS-Lite, NAT64 discovery)
  ['192.0.2.0', 24], // documentation: no legitimate receiver, so anything answering is suspect
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking, often lab-internal
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 3], // multicast 224/4, reserved 240/4 and the 255.255.255.255 broadcast
];

// Forms that carry an IPv4 address inside an IPv6 one: the host they reach is decided by the
// IPv4 part (dual-stack sockets, NAT64 and 6to4 gateways route on it), so that is what is judged.
// The local-use NAT64 prefix 64:ff9b:1::/48 is not listed: where its IPv4 part sits depends on
// the prefix length the operator chose, so it cannot be located, and the whole /48 is refused
// below as outside global unicast.
const V6_EMBEDDING_V4: ReadonlyArray<readonly [string, number, bigint]> = [
  ['::', 96, 0n], // IPv4-compatible (deprecated); also covers :: and ::1 (0.0.0.0, 0.0.0.1)
  ['::ffff:0:0', 96, 0n], // IPv4-mapped
  ['::ffff:0:0:0', 96, 0n], // IPv4-translated (SIIT)
  ['64:ff9b::', 96, 0n], // NAT64 well-known prefix
  ['2002::', 16, 80n], // 6to4: IPv4 in bits 16-48
];

// Only 2000::/3 is allocated for global unicast. Outside it lie ::/8 leftovers, discard
// 100::/64, local-use NAT64, ULA fc00::/7, link-local fe80::/10, site-local fec0::/10 and
// multicast ff00::/8, none of which a public callback receiver lives in.
const V6_GLOBAL_UNICAST = ['2000::', 3] as const;

const V6_BLOCKED_IN_GLOBAL: ReadonlyArray<readonly [string, number]> = [
  // IETF protocol assignments: Teredo 2001::/32 (tunnels to an IPv4 host chosen by the
  // address), benchmarking 2001:2::/48, ORCHID; no callback receiver belongs here.
  ['2001::', 23],
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation (RFC 9637)
];

function parseV4(address: string): number {
  return address.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}

/** The 128-bit value of an address `isIP` accepted as IPv6 (any zone id dropped). */
function parseV6(address: string): bigint {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const dotted = text.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const v4 = parseV4(dotted[2]);
    text = `${dotted[1]}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((n, group) => (n << 16n) | BigInt(parseInt(group, 16)), 0n);
}

const v4Nets = V4_BLOCKED.map(([net, len]) => ({ net: parseV4(net), len }));
const v6Net = ([net, len]: readonly [string, number]) => ({ net: parseV6(net), len });
const v6Embedding = V6_EMBEDDING_V4.map(([net, len, shift]) => ({ ...v6Net([net, len]), shift }));
const v6Global = v6Net(V6_GLOBAL_UNICAST);
const v6Blocked = V6_BLOCKED_IN_GLOBAL.map(v6Net);

const inV4 = (n: number, { net, len }: { net: number; len: number }) => n >>> (32 - len) === net >>> (32 - len);
const inV6 = (n: bigint, { net, len }: { net: bigint; len: number }) => n >> BigInt(128 - len) === net >> BigInt(128 - len);

function isPrivateV4(n: number): boolean {
  return v4Nets.some((range) => inV4(n, range));
}

function isPrivateV6(n: bigint): boolean {
  const embedding = v6Embedding.find((range) => inV6(n, range));
  if (embedding) return isPrivateV4(Number((n >> embedding.shift) & 0xffffffffn));
  if (!inV6(n, v6Global)) return true;
  return v6Blocked.some((range) => inV6(n, range));
}

/**
 * Whether an IP address must not receive callbacks: loopback, private, link-local, CGNAT,
 * documentation, multicast and the like, judging IPv4 carried inside IPv6 by its IPv4 part.
 * A string that is not an IP address is not private (see `isPrivateHost` for names).
 */
export function isPrivateAddress(address: string): boolean {
  switch (isIP(address)) {
    case 4:
      return isPrivateV4(parseV4(address));
    case 6:
      return isPrivateV6(parseV6(address));
    default:
      return false;
  }
}

/**
 * A URL hostname (brackets around IPv6 allowed) that names this machine or a private network
 * without asking DNS. Expects WHATWG-normalised input: `new URL` already turned decimal, octal
 * and hex IPv4 forms into dotted quads and IPv6 into canonical hex.
 */
export function isPrivateHost(hostname: string): boolean {
  // A trailing dot is the same DNS name, so "localhost." must not slip past.
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  return host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host.endsWith('.internal') || isPrivateAddress(host);
}
