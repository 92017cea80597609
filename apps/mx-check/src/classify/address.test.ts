import { describe, expect, it } from 'vitest';
import { parseCidr } from '@toolbox/shared';
import { classifyAddress, literalAddress } from './address.js';

const info = (a: string, g: string[] = []) =>
  classifyAddress(
    a,
    g.map((c) => parseCidr(c)!),
  );
const cls = (a: string, g: string[] = []) => info(a, g).class;

describe('classifyAddress: every IPv4 special-purpose range (IANA registry)', () => {
  it.each([
    ['0.0.0.0', 'unroutable', 'unspecified (0.0.0.0)'],
    ['0.1.2.3', 'unroutable', '"this network" (0/8)'],
    ['0.255.255.255', 'unroutable', '"this network" (0/8)'],
    ['10.0.0.0', 'private', 'private (RFC 1918)'],
    ['10.255.255.255', 'private', 'private (RFC 1918)'],
    ['100.64.0.1', 'private', 'shared address space (CGNAT, RFC 6598)'],
    ['100.127.255.254', 'private', 'shared address space (CGNAT, RFC 6598)'],
    ['127.0.0.1', 'loopback', 'loopback'],
    ['127.255.0.9', 'loopback', 'loopback'],
    ['169.254.1.1', 'private', 'link-local'],
    ['172.16.0.1', 'private', 'private (RFC 1918)'],
    ['172.31.255.255', 'private', 'private (RFC 1918)'],
    ['192.0.0.8', 'reserved', 'IETF protocol assignments'],
    ['192.0.2.1', 'reserved', 'documentation range (RFC 5737)'],
    ['192.88.99.1', 'reserved', '6to4 relay anycast (RFC 7526, deprecated)'],
    ['192.168.1.1', 'private', 'private (RFC 1918)'],
    ['198.18.0.1', 'reserved', 'benchmarking range (RFC 2544)'],
    ['198.19.255.255', 'reserved', 'benchmarking range (RFC 2544)'],
    ['198.51.100.7', 'reserved', 'documentation range (RFC 5737)'],
    ['203.0.113.250', 'reserved', 'documentation range (RFC 5737)'],
    ['224.0.0.1', 'unroutable', 'multicast'],
    ['239.255.255.255', 'unroutable', 'multicast'],
    ['240.0.0.1', 'unroutable', 'reserved (240/4)'],
    ['255.255.255.254', 'unroutable', 'reserved (240/4)'],
    ['255.255.255.255', 'unroutable', 'limited broadcast'],
    // anycast services reachable from anywhere (IANA: globally reachable)
    ['192.31.196.1', 'global', 'global unicast'],
    ['192.52.193.1', 'global', 'global unicast'],
    ['192.175.48.6', 'global', 'global unicast'],
    // just outside the ranges
    ['8.8.8.8', 'global', 'global unicast'],
    ['9.255.255.255', 'global', 'global unicast'],
    ['11.0.0.0', 'global', 'global unicast'],
    ['100.63.255.255', 'global', 'global unicast'],
    ['100.128.0.1', 'global', 'global unicast'],
    ['172.15.255.255', 'global', 'global unicast'],
    ['172.32.0.1', 'global', 'global unicast'],
    ['198.20.0.1', 'global', 'global unicast'],
    ['223.255.255.255', 'global', 'global unicast'],
  ])('%s is %s: %s', (addr, expected, detail) => {
    expect(info(addr)).toEqual({ address: addr, class: expected, detail, isUnspecified: addr.startsWith('0.') });
  });
});

describe('classifyAddress: IPv6 special-purpose ranges', () => {
  it.each([
    ['::', 'unroutable', 'unspecified (::)'],
    ['::1', 'loopback', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback', 'loopback'],
    ['64:ff9b:1::25', 'private', 'local-use NAT64 (64:ff9b:1::/48, RFC 8215)'],
    ['100::1', 'reserved', 'discard-only (RFC 6666)'],
    ['2001:100::1', 'reserved', 'IETF protocol assignments'],
    ['2001:2::1', 'reserved', 'benchmarking range (RFC 5180)'],
    ['2001:10::1', 'reserved', 'an identifier, not routable at the IP layer (ORCHID, RFC 7343; DRIP, RFC 9374)'],
    ['2001:20::1', 'reserved', 'an identifier, not routable at the IP layer (ORCHID, RFC 7343; DRIP, RFC 9374)'],
    ['2001:30::1', 'reserved', 'an identifier, not routable at the IP layer (ORCHID, RFC 7343; DRIP, RFC 9374)'],
    ['2001:db8::1', 'reserved', 'documentation range (RFC 3849)'],
    ['3fff::25', 'reserved', 'documentation range (RFC 9637)'],
    ['5f00::1', 'reserved', 'SRv6 segment identifiers (RFC 9602)'],
    ['fc00::1', 'private', 'unique local (fc00::/7)'],
    ['fdff:ffff::1', 'private', 'unique local (fc00::/7)'],
    ['fe80::1', 'private', 'link-local'],
    ['fe80::1%eth0', 'private', 'link-local'],
    ['febf::1', 'private', 'link-local'],
    ['fec0::1', 'private', 'site-local (fec0::/10, deprecated)'],
    ['ff02::1', 'unroutable', 'multicast'],
    ['ff0e::25', 'unroutable', 'multicast'],
    ['4000::1', 'reserved', 'outside global unicast 2000::/3'],
    // IPv4-compatible (::/96, deprecated) carries no address to judge: ipaddr.js alone reads ::a.b.c.d as IPv4-mapped
    ['::7f00:1', 'reserved', 'outside global unicast 2000::/3'],
    ['::127.0.0.1', 'reserved', 'outside global unicast 2000::/3'],
    // reachable from anywhere: AMT, AS112
    ['2001:3::1', 'global', 'global unicast'],
    ['2001:4:112::1', 'global', 'global unicast'],
    ['2620:4f:8000::1', 'global', 'global unicast'],
    ['2a00:1450:4001::1b', 'global', 'global unicast'],
    ['2606:4700::1111', 'global', 'global unicast'],
  ])('%s is %s: %s', (addr, expected, detail) => {
    expect(info(addr)).toEqual({ address: addr, class: expected, detail, isUnspecified: addr === '::' });
  });
});

describe('classifyAddress: IPv6 forms that carry an IPv4 address are judged by it', () => {
  it.each([
    // IPv4-mapped ::ffff:0:0/96
    ['::ffff:127.0.0.1', 'loopback', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'loopback', 'IPv4-mapped loopback'],
    ['::ffff:127.1.2.3', 'loopback', 'IPv4-mapped loopback'],
    ['::ffff:10.0.0.1', 'private', 'IPv4-mapped private (RFC 1918)'],
    ['::ffff:0.0.0.0', 'unroutable', 'IPv4-mapped unspecified (0.0.0.0)'],
    ['::ffff:255.255.255.255', 'unroutable', 'IPv4-mapped limited broadcast'],
    ['::ffff:8.8.8.8', 'global', 'IPv4-mapped global unicast'],
    // IPv4-translated ::ffff:0:0:0/96 (RFC 6145)
    ['::ffff:0:7f00:1', 'loopback', 'IPv4-translated address carrying 127.0.0.1: loopback'],
    // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052)
    ['64:ff9b::7f00:1', 'loopback', 'NAT64 address carrying 127.0.0.1: loopback'],
    ['64:ff9b::127.0.0.1', 'loopback', 'NAT64 address carrying 127.0.0.1: loopback'],
    ['64:ff9b::c0a8:101', 'private', 'NAT64 address carrying 192.168.1.1: private (RFC 1918)'],
    ['64:ff9b::', 'unroutable', 'NAT64 address carrying 0.0.0.0: unspecified (0.0.0.0)'],
    ['64:ff9b::e000:1', 'unroutable', 'NAT64 address carrying 224.0.0.1: multicast'],
    ['64:ff9b::808:808', 'global', 'NAT64 address carrying 8.8.8.8: global unicast'],
    // 6to4 2002::/16 (RFC 3056): the IPv4 address in bits 16-47
    ['2002:c0a8:0101::', 'private', '6to4 address carrying 192.168.1.1: private (RFC 1918)'],
    ['2002:c0a8:101:1::25', 'private', '6to4 address carrying 192.168.1.1: private (RFC 1918)'],
    ['2002:7f00:1::1', 'loopback', '6to4 address carrying 127.0.0.1: loopback'],
    ['2002:a9fe:101::1', 'private', '6to4 address carrying 169.254.1.1: link-local'],
    ['2002:808:808::1', 'global', '6to4 address carrying 8.8.8.8: global unicast'],
    // Teredo 2001::/32 (RFC 4380): the client address XOR 0xffffffff in the last 32 bits
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback', 'Teredo address carrying 127.0.0.1: loopback'],
    ['2001:0:4136:e378:8000:63bf:3f57:fefe', 'private', 'Teredo address carrying 192.168.1.1: private (RFC 1918)'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved', 'Teredo address carrying 192.0.2.45: documentation range (RFC 5737)'],
    ['2001::ffff:ffff', 'unroutable', 'Teredo address carrying 0.0.0.0: unspecified (0.0.0.0)'],
    ['2001:0:4136:e378:8000:63bf:f7f7:f7f7', 'global', 'Teredo address carrying 8.8.8.8: global unicast'],
  ])('%s is %s: %s', (addr, expected, detail) => {
    expect(info(addr)).toMatchObject({ address: addr, class: expected, detail });
  });
  it('an unspecified address carried in IPv6 is still unspecified', () => {
    expect(info('::ffff:0.0.0.0').isUnspecified).toBe(true);
    expect(info('64:ff9b::').isUnspecified).toBe(true);
    expect(info('2002::1').isUnspecified).toBe(true);
    expect(info('::ffff:127.0.0.1').isUnspecified).toBe(false);
  });
});

describe('classifyAddress: --treat-as-global', () => {
  it('turns a documentation range global but never loopback or unspecified', () => {
    expect(cls('192.0.2.7', ['192.0.2.0/24'])).toBe('global');
    expect(info('192.0.2.7', ['192.0.2.0/24']).detail).toBe('documentation range (RFC 5737), treated as global');
    expect(cls('2001:db8::25', ['2001:db8::/32'])).toBe('global');
    expect(cls('198.51.100.1', ['192.0.2.0/24'])).toBe('reserved');
    expect(cls('127.0.0.1', ['127.0.0.0/8'])).toBe('loopback');
    expect(cls('::', ['::/0'])).toBe('unroutable');
    expect(cls('0.0.0.0', ['0.0.0.0/8'])).toBe('unroutable');
    expect(cls('::ffff:127.0.0.1', ['::/0'])).toBe('loopback');
  });
  it('matches the IPv4 address a wrapping form carries, and the IPv6 address itself', () => {
    expect(cls('64:ff9b::c000:207', ['192.0.2.0/24'])).toBe('global');
    expect(cls('::ffff:192.0.2.7', ['192.0.2.0/24'])).toBe('global');
    expect(cls('2002:c000:207::1', ['192.0.2.0/24'])).toBe('global');
    expect(cls('2002:c000:207::1', ['2002::/16'])).toBe('global');
    expect(cls('64:ff9b::c000:207', ['198.51.100.0/24'])).toBe('reserved');
  });
  it('something that is not an address is unroutable', () => {
    expect(info('mx.example.com')).toEqual({
      address: 'mx.example.com',
      class: 'unroutable',
      detail: 'not an IP address',
      isUnspecified: false,
    });
    expect(cls('127.1')).toBe('unroutable');
  });
});

describe('--treat-as-global ranges (parsed and matched by shared cidr.ts)', () => {
  // address.ts's own matcher compared only like families: an IPv4 address never matched the
  // IPv4-mapped form of its range, which net.BlockList (relay-audit) does match
  it('an IPv4 address lies in the IPv4-mapped form of its range', () => {
    expect(cls('192.0.2.7', ['::ffff:192.0.2.0/120'])).toBe('global');
    expect(cls('192.0.2.7', ['::ffff:198.51.100.0/120'])).toBe('reserved');
  });
  it('reads ranges and bare addresses', () => {
    expect(cls('10.200.0.1', ['10.1.2.3/8'])).toBe('global');
    expect(cls('0.0.0.0', ['0.0.0.0/0'])).toBe('unroutable');
    expect(cls('10.0.0.1', ['0.0.0.0/0'])).toBe('global');
  });
});

describe('literalAddress: the address an exchange written as an IP literal names', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['127.0.0.1.', '127.0.0.1'],
    ['[127.0.0.1]', '127.0.0.1'],
    ['[127.0.0.1].', '127.0.0.1'],
    ['  127.0.0.1  ', '127.0.0.1'],
    // the forms inet_aton reads, as a mail server connecting to the "name" would
    ['127.1', '127.0.0.1'],
    ['127.1.', '127.0.0.1'],
    ['127.0.1', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['0X7F.0.0.1', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['127.000.000.001', '127.0.0.1'],
    ['010.0.0.1', '8.0.0.1'],
    ['0', '0.0.0.0'],
    ['::1', '::1'],
    ['::1.', '::1'],
    ['[::1]', '::1'],
    ['[IPv6:::1]', '::1'],
    ['[ipv6:0:0:0:0:0:0:0:1]', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::', '::'],
    ['::ffff:127.0.0.1', '::ffff:7f00:1'],
    ['::FFFF:7F00:1.', '::ffff:7f00:1'],
    ['64:ff9b::127.0.0.1', '64:ff9b::7f00:1'],
    ['2002:C0A8:0101::', '2002:c0a8:101::'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
  ])('%s names %s', (name, address) => {
    expect(literalAddress(name)).toBe(address);
  });
  it.each([
    'mx.example.com',
    'mx1',
    'cafe',
    'deadbeef',
    '1e1',
    '999.0.0.1',
    '1.2.3.4.5',
    '4294967296',
    '08.0.0.1',
    '[mx.example.com]',
    '1.2.3.4.example.com',
    '',
    '.',
  ])('%j is a host name, or names no address', (name) => {
    expect(literalAddress(name)).toBeNull();
  });
});
