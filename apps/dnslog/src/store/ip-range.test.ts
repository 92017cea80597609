import { describe, expect, it } from 'vitest';
import { ipHex, parseClientFilter } from './ip-range.js';

describe('client filters', () => {
  it('turns addresses into fixed-width hex, as HEX(INET6_ATON()) does', () => {
    expect(ipHex('127.0.0.1')).toBe('7F000001');
    expect(ipHex('2001:db8::1')).toBe('20010DB8000000000000000000000001');
    expect(ipHex('::1')).toBe('00000000000000000000000000000001');
    expect(ipHex('::ffff:192.0.2.1')).toBe('00000000000000000000FFFFC0000201');
    // IPv4-compatible, as INET6_ATON reads it; not ipaddr.js's IPv4-mapped reading
    expect(ipHex('::127.0.0.1')).toBe('0000000000000000000000007F000001');
    expect(ipHex('not-an-ip')).toBeNull();
  });

  it('makes a CIDR block a range of keys', () => {
    expect(parseClientFilter('10.0.0.0/8')).toEqual({ kind: 'range', lo: '0A000000', hi: '0AFFFFFF', hexLength: 8 });
    expect(parseClientFilter('192.0.2.77/30')).toEqual({ kind: 'range', lo: 'C000024C', hi: 'C000024F', hexLength: 8 });
    expect(parseClientFilter('2001:db8::/32')).toMatchObject({
      lo: '20010DB8000000000000000000000000',
      hi: '20010DB8FFFFFFFFFFFFFFFFFFFFFFFF',
    });
    expect(parseClientFilter('192.0.2.1')).toEqual({ kind: 'ip', ip: '192.0.2.1', hex: 'C0000201' });
    expect(parseClientFilter('2001:DB8:0::1')).toEqual({ kind: 'ip', ip: '2001:DB8:0::1', hex: '20010DB8000000000000000000000001' });
  });

  it('refuses what is not an address or block', () => {
    expect(() => parseClientFilter('10.0.0.0/33')).toThrow("--client '10.0.0.0/33': expected an IP address or a CIDR block");
    expect(() => parseClientFilter('example.com')).toThrow('expected an IP address');
  });
});
