import { describe, expect, it } from 'vitest';
import { buildBattery, selectProbes, type BatteryInput } from './battery.js';

const input: BatteryInput = {
  serverName: 'mta.toolbox.test',
  serverIp: '10.99.0.1',
  extDomain: 'relay-check.example',
  rcptLocal: 'relaytest',
  fromLocal: 'antispam',
  ehloName: 'probe.test',
  extraEhlo: [],
};

describe('buildBattery', () => {
  it("has nmap smtp-open-relay's 16 forms, in its order", () => {
    const nmap = buildBattery(input).filter((p) => p.id.startsWith('nmap-'));
    expect(nmap.map((p) => [p.mailFrom, p.rcptTo])).toEqual([
      ['', 'relaytest@relay-check.example'],
      ['antispam@relay-check.example', 'relaytest@relay-check.example'],
      ['antispam@mta.toolbox.test', 'relaytest@relay-check.example'],
      ['antispam@[10.99.0.1]', 'relaytest@relay-check.example'],
      ['antispam@[10.99.0.1]', 'relaytest%relay-check.example@[10.99.0.1]'],
      ['antispam@[10.99.0.1]', 'relaytest%relay-check.example@mta.toolbox.test'],
      ['antispam@[10.99.0.1]', '"relaytest@relay-check.example"'],
      ['antispam@[10.99.0.1]', '"relaytest%relay-check.example"'],
      ['antispam@[10.99.0.1]', 'relaytest@relay-check.example@[10.99.0.1]'],
      ['antispam@[10.99.0.1]', '"relaytest@relay-check.example"@[10.99.0.1]'],
      ['antispam@[10.99.0.1]', 'relaytest@relay-check.example@mta.toolbox.test'],
      ['antispam@[10.99.0.1]', '@[10.99.0.1]:relaytest@relay-check.example'],
      ['antispam@[10.99.0.1]', '@mta.toolbox.test:relaytest@relay-check.example'],
      ['antispam@[10.99.0.1]', 'relay-check.example!relaytest'],
      ['antispam@[10.99.0.1]', 'relay-check.example!relaytest@[10.99.0.1]'],
      ['antispam@[10.99.0.1]', 'relay-check.example!relaytest@mta.toolbox.test'],
    ]);
    expect(nmap.every((p) => p.ehlo === 'probe.test')).toBe(true);
  });

  it('adds the classic forms and EHLO variants, with unique ids', () => {
    const probes = buildBattery({ ...input, extraEhlo: ['trusted.toolbox.test'], viaDomains: ['partner.test'] });
    const ids = probes.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const byId = new Map(probes.map((p) => [p.id, p]));
    expect(byId.get('from-unqualified')?.mailFrom).toBe('antispam');
    expect(byId.get('from-localhost')?.mailFrom).toBe('antispam@localhost');
    expect(byId.get('from-own-domain')?.mailFrom).toBe('postmaster@toolbox.test');
    expect(byId.get('rcpt-upper')?.rcptTo).toBe('RELAYTEST@RELAY-CHECK.EXAMPLE');
    expect(byId.get('rcpt-trailing-dot')?.rcptTo).toBe('relaytest@relay-check.example.');
    expect(byId.get('rcpt-ipv6-literal')?.rcptTo).toBe('relaytest@[IPv6:2001:db8::1]');
    expect(byId.get('local-first')?.localFirst).toBe('postmaster');
    expect(byId.get('via-partner.test-percent')?.rcptTo).toBe('relaytest%relay-check.example@partner.test');
    expect(byId.get('ehlo-10.99.0.1/nmap-01')?.ehlo).toBe('[10.99.0.1]');
    expect(byId.get('ehlo-trusted.toolbox.test/from-own-domain')?.ehlo).toBe('trusted.toolbox.test');
    expect(ids.filter((i) => i.startsWith('ehlo-localhost/'))).toEqual([
      'ehlo-localhost/nmap-01',
      'ehlo-localhost/nmap-02',
      'ehlo-localhost/from-own-domain',
    ]);
  });

  it('refuses an external domain that could smuggle SMTP syntax', () => {
    expect(() => buildBattery({ ...input, extDomain: 'x.test>\r\nDATA' })).toThrow("the external domain 'x.test>\r\nDATA' has characters");
  });

  const ownSender = (serverName: string) => buildBattery({ ...input, serverName }).find((p) => p.id === 'from-own-domain')?.mailFrom;
  it('takes the mail domain from the server name', () => {
    expect(ownSender('mta.toolbox.test')).toBe('postmaster@toolbox.test');
    expect(ownSender('toolbox.test')).toBe('postmaster@toolbox.test');
    expect(ownSender('mx1.eu.example.com.')).toBe('postmaster@example.com');
  });
  // "the name minus its first label" made a server called example.co.uk send as postmaster@co.uk
  it('mail domain of a name under a public suffix is its registrable domain (Public Suffix List)', () => {
    expect(ownSender('example.co.uk')).toBe('postmaster@example.co.uk');
    expect(ownSender('mta.example.co.uk')).toBe('postmaster@example.co.uk');
  });
});

describe('selectProbes', () => {
  const all = buildBattery(input);
  it('selects by globs and exclusions', () => {
    expect(selectProbes(all, 'nmap-0*,!nmap-01').map((p) => p.id)).toEqual([
      'nmap-02',
      'nmap-03',
      'nmap-04',
      'nmap-05',
      'nmap-06',
      'nmap-07',
      'nmap-08',
      'nmap-09',
    ]);
    expect(selectProbes(all, undefined)).toHaveLength(all.length);
  });
  it('refuses a list that selects nothing', () => {
    expect(() => selectProbes(all, 'nope')).toThrow("--tests 'nope' selects no probe");
  });
});
