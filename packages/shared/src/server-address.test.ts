import { describe, expect, it } from 'vitest';
import { parseServerAddress, serverLabel } from './server-address.js';

describe('parseServerAddress', () => {
  it('takes IP, IP:PORT, [v6]:PORT and a bare v6 address', () => {
    expect(parseServerAddress('127.0.0.1')).toEqual({ host: '127.0.0.1', port: 53 });
    expect(parseServerAddress('127.0.0.1:5353')).toEqual({ host: '127.0.0.1', port: 5353 });
    expect(parseServerAddress('[::1]:5353')).toEqual({ host: '::1', port: 5353 });
    expect(parseServerAddress('[::1]')).toEqual({ host: '::1', port: 53 });
    expect(parseServerAddress('::1')).toEqual({ host: '::1', port: 53 });
    expect(parseServerAddress('2001:db8::53')).toEqual({ host: '2001:db8::53', port: 53 });
  });
  it('refuses names, bad ports and junk', () => {
    for (const bad of [
      'ns1.example.com',
      '127.0.0.1:99999',
      '127.0.0.1:0',
      '127.0.0.1:',
      '[::1]:x',
      '1.2.3',
      '',
      '[ns1]:53',
      '127.0.0.1:53:53',
      '::1:53x',
    ]) {
      expect(parseServerAddress(bad), bad).toBeNull();
    }
  });
});

describe('serverLabel', () => {
  it('brackets IPv6 so that the port stays apart', () => {
    expect(serverLabel({ host: '::1', port: 5353 })).toBe('[::1]:5353');
    expect(serverLabel({ host: '127.0.0.1', port: 53 })).toBe('127.0.0.1:53');
  });
});
