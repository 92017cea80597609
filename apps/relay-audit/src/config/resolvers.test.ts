import { describe, expect, it } from 'vitest';
import { hostsResolver, parseResolverAddress } from './resolvers.js';
import { parseVantages } from '../probe/vantage.js';

describe('hostsResolver', () => {
  const r = hostsResolver('# comment\n10.0.0.1  a.partner.test  a\n10.0.0.2\tpartner.test\n10.0.0.3 partner.test.\nnot-an-ip name\n');
  it('resolves forward by any name and reverse to the first name, as glibc does', async () => {
    expect(await r.forward('PARTNER.test')).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(await r.forward('a')).toEqual(['10.0.0.1']);
    expect(await r.reverse('10.0.0.1')).toEqual(['a.partner.test']);
    expect(await r.reverse('10.9.9.9')).toEqual([]);
    expect(await r.mx('partner.test')).toEqual([]);
  });
  // the copy in resolvers.ts compared address text: a differently spelled address had no name
  it('reverse-resolves an address however it is spelled, in the file or in the question', async () => {
    const v6 = hostsResolver('2001:DB8:0::25 mx.partner.test\n');
    expect(await v6.reverse('2001:db8::25')).toEqual(['mx.partner.test']);
    expect(await v6.reverse('2001:0db8::0025')).toEqual(['mx.partner.test']);
    expect(await r.reverse('::ffff:10.0.0.1')).toEqual([]);
  });
});

describe('parseResolverAddress', () => {
  it('takes IP[:PORT] and [IPv6]:PORT, port 53 by default', () => {
    expect(parseResolverAddress('127.0.0.1')).toBe('127.0.0.1:53');
    expect(parseResolverAddress('127.0.0.1:5353')).toBe('127.0.0.1:5353');
    expect(parseResolverAddress('[::1]:5353')).toBe('[::1]:5353');
    expect(parseResolverAddress('::1')).toBe('[::1]:53');
    expect(() => parseResolverAddress('ns1.example.test')).toThrow("--resolver 'ns1.example.test' is not IP[:PORT]");
  });
});

describe('parseVantages', () => {
  it('reads source addresses and SSH URLs; none means from here', () => {
    expect(parseVantages(['ssh://audit@bastion:2222', 'ssh://dmz1'], ['10.0.0.5'], 'me')).toEqual([
      { label: '10.0.0.5', kind: 'source', sourceIp: '10.0.0.5' },
      { label: 'ssh://audit@bastion:2222', kind: 'ssh', ssh: { host: 'bastion', port: 2222, username: 'audit' } },
      { label: 'ssh://dmz1', kind: 'ssh', ssh: { host: 'dmz1', port: 22, username: 'me' } },
    ]);
    expect(parseVantages([], [], 'me')).toEqual([{ label: 'local', kind: 'local' }]);
    expect(() => parseVantages(['ssh://h/var/x'], [], 'me')).toThrow("--vantage 'ssh://h/var/x': a vantage has no path");
  });
});
