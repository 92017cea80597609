import { describe, expect, it } from 'vitest';
import { hostsResolver } from './resolvers.js';
import { auditConfig, inCidr, parseAccess, parseMc, predict, prefixToCidr } from './sendmail-config.js';

const mc = (features: string[]): { path: string; text: string } => ({
  path: 'sendmail.mc',
  text: [
    'divert(-1)dnl',
    '# a comment that is not m4',
    'divert(0)dnl',
    "include(`/usr/share/sendmail/cf/m4/cf.m4')dnl",
    "OSTYPE(`linux')dnl",
    "define(`confCR_FILE', `/etc/mail/relay-domains')dnl",
    ...features.map((f) => `FEATURE(\`${f}')dnl`),
    "MAILER(`smtp')dnl",
  ].join('\n'),
});

const hosts = hostsResolver(['10.99.0.21\tpartner.test', '10.99.0.22\tmail.partner.test', '10.99.0.23\tother.test'].join('\n'));

describe('parsers', () => {
  it('reads FEATUREs with their lines and skips diverted text', () => {
    const info = parseMc(mc(['access_db', 'relay_hosts_only']));
    expect([...info.features.keys()]).toEqual(['access_db', 'relay_hosts_only']);
    expect(info.features.get('relay_hosts_only')).toEqual({ file: 'sendmail.mc', line: 8 });
  });

  it('names the line of syntax it does not know', () => {
    expect(() => parseMc({ path: '/etc/mail/sendmail.mc', text: "FEATURE(`access_db')dnl\nthis is not m4 = 1\n" })).toThrow(
      '/etc/mail/sendmail.mc:2: sendmail.mc syntax we do not know: "this is not m4 = 1"',
    );
    expect(() => parseAccess({ path: 'access', text: 'Connect:10.1 RELAY\nBogus:10.2 RELAY\n' })).toThrow(
      "access:2: unknown access tag 'Bogus:'",
    );
    expect(() => parseAccess({ path: 'access', text: 'Connect:10.1\n' })).toThrow('access:1: an access line is "key value"');
  });

  it('turns sendmail address prefixes into CIDRs', () => {
    expect(prefixToCidr('10.1')).toBe('10.1.0.0/16');
    expect(prefixToCidr('10.99.0.13')).toBe('10.99.0.13/32');
    expect(prefixToCidr('IPv6:2001:db8')).toBe('2001:db8::/32');
    expect(prefixToCidr('partner.test')).toBeNull();
    expect(inCidr('10.1.200.3', '10.1.0.0/16')).toBe(true);
    expect(inCidr('10.2.0.1', '10.1.0.0/16')).toBe(false);
  });
});

describe('auditConfig', () => {
  it('finds the motivating hole: a domain in relay-domains without relay_hosts_only, and its own A record', async () => {
    const a = await auditConfig({
      mc: mc(['access_db']),
      relayDomains: { path: 'relay-domains', text: '# partners\npartner.test\n' },
      own: [],
      resolver: hosts,
    });
    expect(a.findings.map((f) => [f.code, f.from])).toEqual([
      ['NAME_GRANT_SUFFIX', 'relay-domains:2'],
      ['NAME_GRANT_A_RECORD', 'relay-domains:2'],
    ]);
    expect(a.findings[0]?.fix).toContain("FEATURE(`relay_hosts_only')");
    expect(a.findings[1]?.fix).toBe('add Connect:10.99.0.21 REJECT to the access file, or remove partner.test');
    expect(a.grants.find((g) => g.kind === 'client-name-suffix')).toMatchObject({
      value: 'partner.test and every name under .partner.test',
      resolves_to: ['10.99.0.21'],
      from: 'relay-domains:2',
    });
    expect(a.reachesBeyond).toBe(true);
    expect(await predict(a.model, '10.99.0.22', 'relay-check.example', hosts)).toMatchObject({ relays: true, name: 'mail.partner.test' });
    expect(await predict(a.model, '10.99.0.23', 'relay-check.example', hosts)).toMatchObject({
      relays: false,
      why: 'no grant for other.test',
    });
  });

  it('with relay_hosts_only only the exact name relays', async () => {
    const a = await auditConfig({
      mc: mc(['access_db', 'relay_hosts_only']),
      relayDomains: { path: 'rd', text: 'partner.test\n' },
      own: [],
      resolver: hosts,
    });
    expect(a.findings.map((f) => f.code)).toEqual(['NAME_GRANT_A_RECORD']);
    expect(await predict(a.model, '10.99.0.22', 'x.example', hosts)).toMatchObject({ relays: false });
    expect(await predict(a.model, '10.99.0.21', 'x.example', hosts)).toMatchObject({
      relays: true,
      why: 'name partner.test matches partner.test (rd:1)',
    });
  });

  it('reads Connect: prefixes, REJECT beats a shorter RELAY, and --own silences inside grants', async () => {
    const access = { path: 'access', text: 'Connect:127.0.0.1 RELAY\nConnect:10.1 RELAY\nConnect:10.1.2.3 REJECT\n' };
    const a = await auditConfig({ mc: mc(['access_db', 'relay_hosts_only']), access, own: ['10.0.0.0/8'] });
    expect(a.grants.filter((g) => g.kind === 'client-ip').map((g) => [g.value, g.from])).toEqual([
      ['127.0.0.1/32', 'access:1'],
      ['10.1.0.0/16', 'access:2'],
    ]);
    expect(a.findings).toEqual([]);
    expect(a.reachesBeyond).toBe(false);
    expect(await predict(a.model, '10.1.9.9', 'x.example')).toMatchObject({ relays: true, why: '10.1.0.0/16 (access:2)' });
    expect(await predict(a.model, '10.1.2.3', 'x.example')).toMatchObject({ relays: false, why: 'rejected by access:3' });
    const b = await auditConfig({ mc: mc(['access_db', 'relay_hosts_only']), access, own: [] });
    expect(b.findings.map((f) => f.code)).toEqual(['IP_GRANT_OUTSIDE_OWN']);
  });

  it('IPv6 grants match clients by address and prefix length, not by text (predict and --own)', async () => {
    const access = {
      path: 'access',
      text: 'Connect:IPv6:2001:db8:0 RELAY\nConnect:IPv6:2001:db8:0:0:0:0:0:7 REJECT\nConnect:IPv6:2001:db8:ff::5 RELAY\nConnect:10.1 RELAY\n',
    };
    // own networks written in other spellings of the same blocks
    const a = await auditConfig({ mc: mc(['access_db', 'relay_hosts_only']), access, own: ['2001:0db8::/32', '10.0.0.0/8'] });
    expect(a.grants.filter((g) => g.kind === 'client-ip').map((g) => g.value)).toEqual([
      '2001:db8:0::/48',
      '2001:db8:ff::5/128',
      '10.1.0.0/16',
    ]);
    expect(a.findings).toEqual([]);
    expect(a.reachesBeyond).toBe(false);
    expect(await predict(a.model, '2001:db8::5', 'x.example')).toMatchObject({ relays: true, why: '2001:db8:0::/48 (access:1)' });
    expect(await predict(a.model, '2001:0db8:0000:0000:00ab:0000:0000:0001', 'x.example')).toMatchObject({
      relays: true,
      why: '2001:db8:0::/48 (access:1)',
    });
    expect(await predict(a.model, '2001:db8:1::5', 'x.example')).toMatchObject({ relays: false });
    // the /128 REJECT beats the /48 RELAY for that one address only
    expect(await predict(a.model, '2001:db8::7', 'x.example')).toMatchObject({ relays: false, why: 'rejected by access:2' });
    expect(await predict(a.model, '2001:db8:ff:0:0:0:0:5', 'x.example')).toMatchObject({
      relays: true,
      why: '2001:db8:ff::5/128 (access:3)',
    });
    expect(await predict(a.model, '2001:db8:ff::6', 'x.example')).toMatchObject({ relays: false });
    // an IPv4 client seen through an IPv6 socket, and IPv6 loopback
    expect(await predict(a.model, '::ffff:10.1.9.9', 'x.example')).toMatchObject({ relays: true, why: '10.1.0.0/16 (access:4)' });
    expect(await predict(a.model, '0:0:0:0:0:0:0:1', 'x.example')).toMatchObject({ relays: true, why: 'loopback' });
    // a /48 grant is not inside an own /64
    const b = await auditConfig({ mc: mc(['access_db', 'relay_hosts_only']), access, own: ['2001:db8::/64', '10.0.0.0/8'] });
    expect(b.findings.map((f) => [f.code, f.from])).toEqual([
      ['IP_GRANT_OUTSIDE_OWN', 'access:1'],
      ['IP_GRANT_OUTSIDE_OWN', 'access:3'],
    ]);
  });

  it('flags the feature grants with their lines', async () => {
    const a = await auditConfig({ mc: mc(['promiscuous_relay', 'relay_local_from', 'relay_based_on_MX', 'loose_relay_check']), own: [] });
    expect(a.findings.map((f) => [f.code, f.from])).toEqual([
      ['PROMISCUOUS_RELAY', 'sendmail.mc:7'],
      ['SENDER_BASED_RELAY', 'sendmail.mc:8'],
      ['RELAY_BASED_ON_MX', 'sendmail.mc:9'],
      ['LOOSE_RELAY_CHECK', 'sendmail.mc:10'],
    ]);
    expect(await predict(a.model, '10.99.0.23', 'x.example')).toMatchObject({ relays: true, why: 'promiscuous_relay' });
  });

  it('relay_based_on_MX relays to a domain whose MX points at localhost.', async () => {
    const a = await auditConfig({ mc: mc(['relay_based_on_MX', 'relay_hosts_only']), own: [] });
    const mxResolver = { ...hosts, mx: (d: string) => Promise.resolve(d === 'spam-target.example' ? ['localhost.'] : []) };
    expect(await predict(a.model, '10.99.0.23', 'spam-target.example', mxResolver)).toMatchObject({ relays: true });
    expect(await predict(a.model, '10.99.0.23', 'other.example', mxResolver)).toMatchObject({ relays: false });
  });

  it('a closed config reaches nowhere beyond loopback', async () => {
    const a = await auditConfig({
      mc: mc(['access_db', 'relay_hosts_only']),
      access: { path: 'access', text: 'Connect:127.0.0.1 RELAY\n' },
      relayDomains: { path: 'rd', text: '' },
      own: [],
    });
    expect(a.findings).toEqual([]);
    expect(a.reachesBeyond).toBe(false);
  });
});
