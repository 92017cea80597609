import { describe, expect, it } from 'vitest';
import { classifyAddress, parseCidr } from './address.js';

const cls = (a: string, g: string[] = []) => classifyAddress(a, g.map((c) => parseCidr(c)!)).class;

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'], ['127.255.0.9', 'loopback'], ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'], ['::ffff:7f00:2', 'loopback'], ['::ffff:127.1.2.3', 'loopback'],
    ['10.1.2.3', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'], ['169.254.1.1', 'private'], ['fc00::1', 'private'], ['fd12::1', 'private'], ['fe80::1', 'private'],
    ['0.0.0.0', 'unroutable'], ['0.1.2.3', 'unroutable'], ['::', 'unroutable'], ['240.0.0.1', 'unroutable'],
    ['255.255.255.255', 'unroutable'], ['224.0.0.1', 'unroutable'], ['ff02::1', 'unroutable'],
    ['192.0.2.1', 'reserved'], ['2001:db8::1', 'reserved'], ['::ffff:10.0.0.1', 'private'],
    ['8.8.8.8', 'global'], ['172.32.0.1', 'global'], ['2a00:1450::1', 'global'], ['100.128.0.1', 'global'],
  ])('%s is %s', (addr, expected) => {
    expect(cls(addr)).toBe(expected);
  });

  it('--treat-as-global turns a documentation range global but never loopback or unspecified', () => {
    expect(cls('192.0.2.7', ['192.0.2.0/24'])).toBe('global');
    expect(cls('2001:db8::25', ['2001:db8::/32'])).toBe('global');
    expect(cls('198.51.100.1', ['192.0.2.0/24'])).toBe('reserved');
    expect(cls('127.0.0.1', ['127.0.0.0/8'])).toBe('loopback');
    expect(cls('::', ['::/0'])).toBe('unroutable');
  });

  it('parseCidr refuses what is not a range', () => {
    expect(parseCidr('192.0.2.0/33')).toBeNull();
    expect(parseCidr('example.com/24')).toBeNull();
    expect(parseCidr('1.2.3.4/8/9')).toBeNull();
    expect(parseCidr('10.1.2.3/8')?.text).toBe('10.1.2.3/8');
  });
});
