import { describe, expect, it } from 'vitest';
import { canonicalAddress, cidrWithin, inCidr, parseAddress, parseCidr } from './cidr.js';

describe('inCidr compares addresses, not text', () => {
  it.each([
    // the case: a compressed address inside a block written with an explicit zero group
    ['2001:db8::5', '2001:db8:0::/48', true],
    ['2001:0db8:0000:0000:0000:0000:0000:0005', '2001:db8::/48', true],
    ['2001:DB8::5', '2001:db8::/32', true],
    ['2001:db8:1::5', '2001:db8::/48', false],
    // /64: the prefix length counts, not how much of the text matches
    ['2001:db8:0:0:ffff::1', '2001:db8::/64', true],
    ['2001:db8:0:1::1', '2001:db8::/64', false],
    ['2001:db8::1', '2001:db8:0:0::/64', true],
    // text prefix is not address prefix: 2001:db8:1 does not start 2001:db8:10::/48
    ['2001:db8:1::1', '2001:db8:10::/48', false],
    // /128: one address, however spelled
    ['2001:db8::5', '2001:db8:0:0:0:0:0:5/128', true],
    ['2001:db8::6', '2001:db8::5/128', false],
    ['::1', '::1/128', true],
    ['::1', '0:0:0:0:0:0:0:1', true],
    // IPv4
    ['10.1.200.3', '10.1.0.0/16', true],
    ['10.2.0.1', '10.1.0.0/16', false],
    ['192.0.2.255', '192.0.2.0/24', true],
    ['192.0.3.0', '192.0.2.0/24', false],
    ['203.0.113.5', '0.0.0.0/0', true],
    ['127.0.0.1', '127.0.0.1/32', true],
    // IPv4-mapped IPv6, both ways
    ['::ffff:10.1.2.3', '10.1.0.0/16', true],
    ['::ffff:10.2.2.3', '10.1.0.0/16', false],
    ['10.1.2.3', '::ffff:10.1.0.0/112', true],
    ['::ffff:127.0.0.1', '127.0.0.1/32', true],
    // families do not mix otherwise
    ['10.1.2.3', '2001:db8::/32', false],
    ['2001:db8::1', '10.0.0.0/8', false],
    // not an address, or not a CIDR: never inside
    ['mail.partner.test', '10.0.0.0/8', false],
    ['10.1.2.3', '10.1/16', false],
    ['10.1.2.3', '10.1.0.0/33', false],
    // as net.BlockList: IPv4 is ::ffff:0:0/96 inside IPv6 space, so ::/0 holds every address
    ['10.1.2.3', '::/0', true],
    ['10.1.2.3', '::ffff:0:0/96', true],
    ['::ffff:10.1.2.3', '0.0.0.0/0', true],
    // IPv4-translated and NAT64 forms are IPv6 addresses of their own
    ['::ffff:0:7f00:1', '127.0.0.0/8', false],
    ['64:ff9b::7f00:1', '127.0.0.0/8', false],
    // a zone does not change which block an address is in
    ['fe80::1%eth0', 'fe80::/10', true],
    // surrounding white space, as in a config file
    ['10.1.2.3', ' 10.1.0.0/16 ', true],
  ])('%s in %s: %s', (ip, cidr, inside) => {
    expect(inCidr(ip, cidr)).toBe(inside);
  });

  it('parses CIDRs and bare addresses, and refuses the rest', () => {
    expect(parseCidr('2001:db8::/48')).toMatchObject({ address: '2001:db8::', bits: 48, family: 6, text: '2001:db8::/48' });
    expect(parseCidr('192.0.2.7')).toMatchObject({ address: '192.0.2.7', bits: 32, family: 4, text: '192.0.2.7/32' });
    expect(parseCidr('::1')).toMatchObject({ address: '::1', bits: 128, family: 6, text: '::1/128' });
    expect(parseCidr(' 192.0.2.1 ')).toMatchObject({ address: '192.0.2.1', bits: 32, family: 4, text: '192.0.2.1/32' });
    expect(parseCidr('10.1.2.3/8')).toMatchObject({ family: 4, bits: 8, text: '10.1.2.3/8' });
    for (const bad of [
      '10.1',
      '10/8',
      '10.0.0.0/',
      '10.0.0.0/-1',
      '10.0.0.0/x',
      '10.0.0.0/8/8',
      '192.0.2.0/33',
      '2001:db8::/129',
      'host/24',
      'example.com/24',
      '10.0.0.0/ 8',
    ]) {
      expect(parseCidr(bad)).toBeNull();
    }
  });

  it('cidrWithin: a block inside another by address and length, IPv4-mapped counted as IPv4', () => {
    expect(cidrWithin('2001:db8:0:5::/64', '2001:db8::/48')).toBe(true);
    expect(cidrWithin('2001:db8::/32', '2001:db8::/48')).toBe(false);
    expect(cidrWithin('2001:db8:1::/48', '2001:db8::/48')).toBe(false);
    expect(cidrWithin('10.1.0.0/16', '10.0.0.0/8')).toBe(true);
    expect(cidrWithin('10.0.0.0/8', '10.1.0.0/16')).toBe(false);
    expect(cidrWithin('::ffff:10.1.0.0/112', '10.0.0.0/8')).toBe(true);
    expect(cidrWithin('10.1.0.0/16', '::ffff:10.0.0.0/104')).toBe(true);
    expect(cidrWithin('::ffff:10.0.0.0/100', '10.0.0.0/8')).toBe(false);
    expect(cidrWithin('2001:db8::/48', '10.0.0.0/8')).toBe(false);
    expect(cidrWithin('not-a-cidr', '10.0.0.0/8')).toBe(false);
  });

  // relay-audit's copy said no here while inCidr('10.1.2.3', '::/0') said yes
  it('cidrWithin agrees with inCidr: an IPv4 block lies in ::/0 and in ::ffff:0:0/96', () => {
    expect(cidrWithin('10.0.0.0/8', '::/0')).toBe(true);
    expect(cidrWithin('0.0.0.0/0', '::ffff:0:0/96')).toBe(true);
    expect(cidrWithin('::/0', '0.0.0.0/0')).toBe(false);
  });
});

describe('parseAddress and canonicalAddress', () => {
  it('gives one spelling per address', () => {
    expect(canonicalAddress('2001:0DB8:0000:0:0::5')).toBe('2001:db8::5');
    expect(canonicalAddress(' 192.0.2.1 ')).toBe('192.0.2.1');
    expect(canonicalAddress('::FFFF:192.0.2.1')).toBe('::ffff:c000:201');
    expect(canonicalAddress('fe80::1%eth0')).toBe('fe80::1%eth0');
    expect(canonicalAddress('127.1')).toBeNull();
    expect(canonicalAddress('example.com')).toBeNull();
  });
  // ipaddr.js alone reads ::a.b.c.d as IPv4-mapped (::ffff:a.b.c.d): another address
  it('reads the IPv4-compatible ::a.b.c.d as ::/96, not as IPv4-mapped', () => {
    expect(parseAddress('::127.0.0.1')?.toString()).toBe('::7f00:1');
    expect(parseAddress('::127.0.0.1')?.toByteArray()).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 127, 0, 0, 1]);
    expect(inCidr('::127.0.0.1', '127.0.0.0/8')).toBe(false);
  });
});
