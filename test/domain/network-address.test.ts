import { describe, expect, it } from 'vitest';
import { isPrivateAddress, isPrivateHost } from '../../src/domain/network-address.js';

describe('isPrivateAddress', () => {
  it.each([
    ['0.0.0.0', 'this network'], ['0.255.255.255', 'this network'],
    ['10.0.0.1', '10/8'], ['10.255.255.255', '10/8'],
    ['127.0.0.1', 'loopback'], ['127.255.0.9', 'loopback'],
    ['169.254.169.254', 'link-local metadata'],
    ['172.16.0.1', '172.16/12'], ['172.31.255.255', '172.16/12'],
    ['192.168.1.1', '192.168/16'],
    ['100.64.0.1', 'CGNAT'], ['100.127.255.255', 'CGNAT'],
    ['192.0.0.8', 'IETF protocol assignments'],
    ['192.0.2.10', 'TEST-NET-1'],
    ['198.18.0.1', 'benchmarking'], ['198.19.255.255', 'benchmarking'],
    ['198.51.100.7', 'TEST-NET-2'],
    ['203.0.113.9', 'TEST-NET-3'],
    ['224.0.0.1', 'multicast'], ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'], ['255.255.255.255', 'broadcast'],
  ])('IPv4 %s (%s) is private', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each([
    '8.8.8.8', '1.1.1.1', '9.255.255.255', '11.0.0.0', '100.63.255.255', '100.128.0.0', '126.255.255.255', '128.0.0.0',
    '169.253.255.255', '172.15.255.255', '172.32.0.0', '192.0.1.1', '192.0.3.0', '192.167.255.255', '198.17.255.255',
    '198.20.0.0', '198.51.99.1', '203.0.112.255', '223.255.255.255',
  ])('IPv4 %s is public', (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });

  it.each([
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback, uncompressed'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback, dotted'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback, as new URL writes it'],
    ['::ffff:10.0.0.1', 'IPv4-mapped 10/8'],
    ['::ffff:a9fe:a9fe', 'IPv4-mapped 169.254.169.254'],
    ['0:0:0:0:0:FFFF:C0A8:0101', 'IPv4-mapped 192.168.1.1, upper case'],
    ['::ffff:0:127.0.0.1', 'IPv4-translated loopback'],
    ['::ffff:0:7f00:1', 'IPv4-translated loopback, hex'],
    ['::ffff:0:a00:1', 'IPv4-translated 10.0.0.1'],
    ['::127.0.0.1', 'IPv4-compatible loopback'],
    ['::a9fe:a9fe', 'IPv4-compatible metadata'],
    ['::2', 'IPv4-compatible 0.0.0.2'],
    ['64:ff9b::127.0.0.1', 'NAT64 loopback'],
    ['64:ff9b::7f00:1', 'NAT64 loopback, hex'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 metadata'],
    ['64:ff9b:1::1', 'local-use NAT64'],
    ['64:ff9b:1:ffff::808:808', 'local-use NAT64, embedding a public address'],
    ['2002:7f00:1::', '6to4 of 127.0.0.1'],
    ['2002:a9fe:a9fe::1', '6to4 of 169.254.169.254'],
    ['2002:c0a8:101:1::1', '6to4 of 192.168.1.1'],
    ['2001::1', 'Teredo'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo, real-looking'],
    ['2001:2::1', 'benchmarking'],
    ['fc00::1', 'ULA'],
    ['fd12:3456:789a::1', 'ULA'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local with zone'],
    ['febf:ffff::1', 'link-local, top of /10'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'multicast'],
    ['ff05::2', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['2001:db8:ffff::1', 'documentation'],
    ['3fff::1', 'documentation (RFC 9637)'],
    ['100::1', 'discard'],
    ['100::ffff:ffff:ffff:ffff', 'discard, top'],
    ['1::1', 'outside global unicast'],
    ['5f00::1', 'SRv6, outside global unicast'],
  ])('IPv6 %s (%s) is private', (address) => {
    expect(isPrivateAddress(address)).toBe(true);
  });

  it.each([
    ['2606:4700::1111', 'Cloudflare DNS'],
    ['2001:4860:4860::8888', 'Google DNS'],
    ['2001:4860::1', 'Google'],
    ['2a00:1450:4001:82a::200e', 'a European host'],
    ['::ffff:8.8.8.8', 'IPv4-mapped public'],
    ['::ffff:808:808', 'IPv4-mapped public, hex'],
    ['::ffff:0:808:808', 'IPv4-translated public'],
    ['64:ff9b::808:808', 'NAT64 of a public address'],
    ['2002:808:808::1', '6to4 of a public address'],
    ['2001:200::1', 'just past 2001::/23'],
    ['2001:db9::1', 'just past documentation'],
  ])('IPv6 %s (%s) is public', (address) => {
    expect(isPrivateAddress(address)).toBe(false);
  });

  it('is not about names', () => {
    expect(isPrivateAddress('example.com')).toBe(false);
    expect(isPrivateAddress('localhost')).toBe(false);
  });
});

describe('isPrivateHost', () => {
  it.each([
    'localhost', 'LOCALHOST', 'localhost.', 'api.localhost', 'printer.local', 'db.internal', 'metadata.google.internal',
    '127.0.0.1', '[::1]', '[::ffff:7f00:1]', '[64:ff9b::a9fe:a9fe]',
  ])('%s is private', (host) => {
    expect(isPrivateHost(host)).toBe(true);
  });

  it.each(['example.com', 'localhost.example.com', '8.8.8.8', '[2606:4700::1111]'])('%s is public', (host) => {
    expect(isPrivateHost(host)).toBe(false);
  });

  it.each([
    ['http://2130706433/', 'decimal'],
    ['http://0x7f000001/', 'hex'],
    ['http://017700000001/', 'octal'],
    ['http://0x7f.1/', 'mixed short form'],
    ['http://127.1/', 'short form'],
    ['http://127.0.0.1./', 'trailing dot'],
  ])('sees %s (%s IPv4) as the loopback WHATWG URL normalises it to', (url) => {
    const { hostname } = new URL(url);
    expect(hostname).toBe('127.0.0.1');
    expect(isPrivateHost(hostname)).toBe(true);
  });

  it.each([
    ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]'],
    ['http://[::ffff:0:127.0.0.1]/', '[::ffff:0:7f00:1]'],
    ['http://[64:ff9b::127.0.0.1]/', '[64:ff9b::7f00:1]'],
    ['http://[0:0:0:0:0:0:0:1]/', '[::1]'],
  ])('sees %s in its normalised form %s', (url, normalised) => {
    const { hostname } = new URL(url);
    expect(hostname).toBe(normalised);
    expect(isPrivateHost(hostname)).toBe(true);
  });
});
