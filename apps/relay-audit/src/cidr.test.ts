import { describe, expect, it } from 'vitest';
import { cidrWithin, inCidr, parseCidr } from './cidr.js';

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
  ])('%s in %s: %s', (ip, cidr, inside) => {
    expect(inCidr(ip, cidr)).toBe(inside);
  });

  it('parses CIDRs and bare addresses, and refuses the rest', () => {
    expect(parseCidr('2001:db8::/48')).toEqual({ address: '2001:db8::', prefix: 48, family: 'ipv6' });
    expect(parseCidr('192.0.2.7')).toEqual({ address: '192.0.2.7', prefix: 32, family: 'ipv4' });
    expect(parseCidr('::1')).toEqual({ address: '::1', prefix: 128, family: 'ipv6' });
    for (const bad of ['10.1', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', '2001:db8::/129', 'host/24', '10.0.0.0/ 8']) expect(parseCidr(bad)).toBeNull();
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
  });
});
