import { describe, expect, it } from 'vitest';
import { hostsResolver } from '../config/resolvers.js';
import { auditConfig, type Resolver } from '../config/sendmail-config.js';
import {
  addressesOf,
  clientFacts,
  explainExitCode,
  explainObservation,
  formatExplainText,
  inferExtDomain,
  mxPointsHere,
  parseProbeReport,
  vantageAddress,
  type ClientFacts,
  type Explanation,
  type Observation,
  type ObservedVantage,
} from './explain.js';

const EXT = 'relay-check.example';

const mcText = (features: string[]): string =>
  [
    'divert(-1)dnl',
    'divert(0)dnl',
    "include(`/usr/share/sendmail/cf/m4/cf.m4')dnl",
    "OSTYPE(`linux')dnl",
    ...features.map((f) => `FEATURE(\`${f}')dnl`),
    "MAILER(`smtp')dnl",
  ].join('\n');

const HOSTS = ['127.0.0.1\tlocalhost', '10.99.0.11\tv1.partner.test', '10.99.0.21\tpartner.test', '10.99.0.22\tsrc22.elsewhere.test'].join(
  '\n',
);

interface Config {
  features?: string[];
  access?: string;
  relayDomains?: string;
  resolver?: Resolver;
}

/** A vantage's observation: nmap-01 (null sender, plain recipient) accepted when it is open. */
function seen(
  label: string,
  verdict: ObservedVantage['verdict'],
  as: [string | null, string] | null,
  probes?: ObservedVantage['probes'],
): ObservedVantage {
  return {
    vantage: label,
    verdict,
    seen_as: as === null ? null : { name: as[0], address: as[1] },
    probes: probes ?? [
      { id: 'nmap-01', mail_from: '', rcpt_to: `relaytest@${EXT}`, class: verdict === 'open' ? 'ACCEPTED_RCPT' : 'DENIED' },
    ],
  };
}

async function join(cfg: Config, vantages: ObservedVantage[], ext = EXT): Promise<Explanation> {
  const resolver = cfg.resolver ?? hostsResolver(HOSTS);
  const audit = await auditConfig({
    mc: { path: 'sendmail.mc', text: mcText(['access_db', ...(cfg.features ?? [])]) },
    ...(cfg.access === undefined ? {} : { access: { path: 'access', text: cfg.access } }),
    ...(cfg.relayDomains === undefined ? {} : { relayDomains: { path: 'relay-domains', text: cfg.relayDomains } }),
    own: [],
    resolver,
  });
  const o: Observation = { target: '10.99.0.1:2603', vantages };
  const mxHere = await mxPointsHere(audit.model, ext, resolver);
  const facts = new Map<string, ClientFacts>();
  for (const ip of addressesOf(o)) facts.set(ip, await clientFacts(audit, ip, ext, mxHere, resolver));
  return explainObservation(o, audit, facts, ext);
}

const covers = (e: Explanation): Record<string, string[]> =>
  Object.fromEntries(e.vantages.map((v) => [v.vantage, (v.client?.covered_by ?? []).map((c) => `${c.kind} ${c.value} ${c.from}`)]));

describe('explain: observation and config agree', () => {
  it('names the grants that let each vantage relay, with file:line, and that none covers the refused one', async () => {
    const e = await join({ relayDomains: '# partners\npartner.test\n', access: 'Connect:127.0.0.1\tRELAY\n' }, [
      seen('10.99.0.21', 'open', ['partner.test', '10.99.0.21']),
      seen('10.99.0.22', 'closed', ['src22.elsewhere.test', '10.99.0.22']),
      seen('ssh://audit@10.99.0.11:22', 'open', ['v1.partner.test', '10.99.0.11']),
    ]);
    expect(e.vantages.map((v) => [v.vantage, v.observed, v.predicted, v.status, v.cause])).toEqual([
      ['10.99.0.21', 'open', 'open', 'agree', null],
      ['10.99.0.22', 'closed', 'closed', 'agree', null],
      ['ssh://audit@10.99.0.11:22', 'open', 'open', 'agree', null],
    ]);
    expect(covers(e)).toEqual({
      '10.99.0.21': ['client-name-suffix partner.test relay-domains:2'],
      '10.99.0.22': [],
      'ssh://audit@10.99.0.11:22': ['client-name-suffix partner.test relay-domains:2'],
    });
    expect(e.vantages.map((v) => v.message)).toEqual([
      'vantage 10.99.0.21 relays, as the config says',
      'vantage 10.99.0.22 is refused, as the config says: no grant covers it',
      'vantage ssh://audit@10.99.0.11:22 (10.99.0.11) relays, as the config says',
    ]);
    expect(e).toMatchObject({ observed: 'open', agree: true, disagreements: 0, ext_domain: EXT });
    // agreed, but a vantage relays: still a finding
    expect(explainExitCode(e, 3)).toBe(1);
    expect(formatExplainText(e)).toBe(`target 10.99.0.1:2603, to ${EXT}: open; the config explains every vantage
  vantage 10.99.0.21 relays, as the config says
    seen as partner.test [10.99.0.21]
    10.99.0.21 (partner.test) is covered by client-name-suffix partner.test (relay-domains:2)
  vantage 10.99.0.22 is refused, as the config says: no grant covers it
    seen as src22.elsewhere.test [10.99.0.22]
    no grant covers 10.99.0.22 (src22.elsewhere.test)
  vantage ssh://audit@10.99.0.11:22 (10.99.0.11) relays, as the config says
    seen as v1.partner.test [10.99.0.11]
    10.99.0.11 (v1.partner.test) is covered by client-name-suffix partner.test (relay-domains:2)
`);
  });

  it('every vantage closed and agreed: exit 0', async () => {
    const e = await join({ features: ['relay_hosts_only'], access: 'Connect:127.0.0.1\tRELAY\n' }, [
      seen('10.99.0.21', 'closed', ['partner.test', '10.99.0.21']),
      seen('10.99.0.22', 'closed', [null, '10.99.0.22']),
    ]);
    expect(e.vantages.map((v) => v.status)).toEqual(['agree', 'agree']);
    expect(covers(e)).toEqual({ '10.99.0.21': [], '10.99.0.22': [] });
    expect(explainExitCode(e, 3)).toBe(0);
  });

  it('a REJECT entry that wins over a name grant is named with both lines', async () => {
    const e = await join({ features: ['relay_hosts_only'], relayDomains: 'partner.test\n', access: 'Connect:10.99.0.21\tREJECT\n' }, [
      seen('10.99.0.21', 'closed', ['partner.test', '10.99.0.21']),
    ]);
    const v = e.vantages[0];
    expect(v?.status).toBe('agree');
    expect(v?.message).toBe('vantage 10.99.0.21 is refused, as the config says: reject 10.99.0.21/32 (access:1) refuses it');
    expect(v?.client?.covered_by).toEqual([{ kind: 'client-name-exact', value: 'partner.test', from: 'relay-domains:1' }]);
    expect(v?.client?.refused_by).toEqual([{ kind: 'reject', value: '10.99.0.21/32', from: 'access:1' }]);
    expect(formatExplainText(e)).toContain('    10.99.0.21 (partner.test) is refused by reject 10.99.0.21/32 (access:1), which wins\n');
  });

  it('feature grants name their .mc line: promiscuous_relay, and relay_based_on_MX for a domain whose MX is localhost.', async () => {
    const open = await join({ features: ['promiscuous_relay'] }, [seen('10.99.0.22', 'open', [null, '10.99.0.22'])]);
    expect(covers(open)).toEqual({ '10.99.0.22': ['promiscuous any client, any destination sendmail.mc:6'] });
    const mx: Resolver = { ...hostsResolver(HOSTS), mx: (d) => Promise.resolve(d === 'mx-target.test' ? ['localhost.'] : []) };
    const toMx = await join(
      { features: ['relay_hosts_only', 'relay_based_on_MX'], resolver: mx },
      [seen('10.99.0.22', 'open', [null, '10.99.0.22'])],
      'mx-target.test',
    );
    expect(covers(toMx)).toEqual({ '10.99.0.22': ['relay-to-mx mx-target.test (its MX points here) sendmail.mc:7'] });
    expect(toMx.vantages[0]?.status).toBe('agree');
    const elsewhere = await join({ features: ['relay_hosts_only', 'relay_based_on_MX'], resolver: mx }, [
      seen('10.99.0.22', 'closed', [null, '10.99.0.22']),
    ]);
    expect(covers(elsewhere)).toEqual({ '10.99.0.22': [] });
    expect(elsewhere.vantages[0]?.status).toBe('agree');
  });

  it('a local vantage is judged by how the MTA saw it', async () => {
    const e = await join({ access: 'Connect:127.0.0.1\tRELAY\n' }, [seen('local', 'open', ['localhost', '127.0.0.1'])]);
    expect(e.vantages[0]).toMatchObject({ address: null, predicted: 'open', status: 'agree', seen: null });
    expect(covers(e)).toEqual({ local: ['loopback 127.0.0.1/32 sendmail (built in)', 'client-ip 127.0.0.1/32 access:1'] });
  });

  it('sender-based grants explain an open vantage only when no null-sender form relayed', async () => {
    const fromOwn = [
      { id: 'nmap-01', mail_from: '', rcpt_to: `relaytest@${EXT}`, class: 'DENIED' as const },
      { id: 'from-own-domain', mail_from: 'postmaster@relay-audit.test', rcpt_to: `relaytest@${EXT}`, class: 'ACCEPTED_RCPT' as const },
    ];
    const bySender = await join({ features: ['relay_local_from'] }, [seen('10.99.0.22', 'open', [null, '10.99.0.22'], fromOwn)]);
    expect(bySender.vantages[0]).toMatchObject({
      status: 'agree',
      message: 'vantage 10.99.0.22 relays, as the config says: through grants any client may use with some address forms',
    });
    expect(bySender.vantages[0]?.form_grants.map((g) => `${g.kind} ${g.from}`)).toEqual(['sender sendmail.mc:6']);
    const asClient = await join({ features: ['relay_local_from'] }, [seen('10.99.0.22', 'open', [null, '10.99.0.22'])]);
    expect(asClient.vantages[0]).toMatchObject({ status: 'disagree', cause: 'config-mismatch' });
  });
});

describe('explain: observation and config disagree', () => {
  it('a proxy in front of the MTA: the vantage relays, no grant covers it, the MTA saw it as 127.0.0.1', async () => {
    const e = await join({ features: ['relay_hosts_only'], access: 'Connect:127.0.0.1\tRELAY\n' }, [
      seen('10.99.0.12', 'open', ['localhost', '127.0.0.1']),
      seen('10.99.0.22', 'open', ['localhost', '127.0.0.1']),
    ]);
    const v = e.vantages[0];
    expect(v).toMatchObject({
      address: '10.99.0.12',
      observed: 'open',
      predicted: 'closed',
      status: 'disagree',
      cause: 'address-translated',
    });
    expect(v?.message).toBe(
      'vantage 10.99.0.12 relays, but no grant covers it; the MTA saw it as 127.0.0.1 (localhost), which loopback 127.0.0.1/32 (sendmail (built in)), client-ip 127.0.0.1/32 (access:1) cover',
    );
    expect(v?.client).toMatchObject({ address: '10.99.0.12', relays: false, covered_by: [], refused_by: [] });
    expect(v?.seen).toMatchObject({ address: '127.0.0.1', relays: true, why: 'loopback' });
    expect(e).toMatchObject({ agree: false, disagreements: 2 });
    expect(explainExitCode(e, 3)).toBe(1);
    expect(formatExplainText(e).split('\n').slice(0, 6)).toEqual([
      `target 10.99.0.1:2603, to ${EXT}: open; observation and config DISAGREE for 2 of 2 vantages`,
      '  DISAGREE: vantage 10.99.0.12 relays, but no grant covers it; the MTA saw it as 127.0.0.1 (localhost), which loopback 127.0.0.1/32 (sendmail (built in)), client-ip 127.0.0.1/32 (access:1) cover',
      '    seen as localhost [127.0.0.1]',
      '    no grant covers 10.99.0.12',
      '    127.0.0.1 (localhost), as the MTA saw it: covered by loopback 127.0.0.1/32 (sendmail (built in)), client-ip 127.0.0.1/32 (access:1)',
      '    likely cause: a proxy, NAT or container port mapping in front of the MTA makes outside connections look local; let the MTA see the client\'s own address (no SNAT or masquerade before it; Docker: "userland-proxy": false), or keep the proxy from reaching it',
    ]);
  });

  it('the MTA saw the vantage itself and relays though no grant covers it: the running config is another', async () => {
    const e = await join({ features: ['relay_hosts_only'], access: 'Connect:127.0.0.1\tRELAY\n' }, [
      seen('10.99.0.22', 'open', ['src22.elsewhere.test', '10.99.0.22']),
    ]);
    expect(e.vantages[0]).toMatchObject({
      status: 'disagree',
      cause: 'config-mismatch',
      seen: null,
      message: 'vantage 10.99.0.22 relays, but no grant covers it',
    });
    expect(formatExplainText(e)).toContain(
      '    likely cause: the running sendmail is not what these files say: a .cf not rebuilt from this .mc (m4)',
    );
  });

  it('refused though a grant covers it: seen as another address no grant covers, or as itself', async () => {
    const access = 'Connect:127.0.0.1\tRELAY\nConnect:10.99.0\tRELAY\n';
    const natted = await join({ access }, [seen('10.99.0.21', 'closed', [null, '192.0.2.7'])]);
    expect(natted.vantages[0]).toMatchObject({
      predicted: 'open',
      status: 'disagree',
      cause: 'address-translated',
      message:
        'vantage 10.99.0.21 is refused, though client-ip 10.99.0.0/24 (access:2) covers it; the MTA saw it as 192.0.2.7, which no grant covers',
    });
    expect(formatExplainText(natted)).toContain(
      '    likely cause: a proxy, NAT or container port mapping in front of the MTA makes connections look as if they came from 192.0.2.7;',
    );
    const itself = await join({ access }, [seen('10.99.0.21', 'closed', [null, '10.99.0.21'])]);
    expect(itself.vantages[0]).toMatchObject({
      status: 'disagree',
      cause: 'config-mismatch',
      message: 'vantage 10.99.0.21 is refused, though client-ip 10.99.0.0/24 (access:2) covers it',
    });
    expect(explainExitCode(itself, 3)).toBe(1);
  });

  it('a vantage that could not be probed is not compared: exit 3 when nothing else was found', async () => {
    const down = { ...seen('ssh://audit@10.99.0.11:22', 'inconclusive', null, []), error: 'ssh audit@10.99.0.11:22: host key mismatch' };
    const e = await join({ access: 'Connect:127.0.0.1\tRELAY\n' }, [seen('10.99.0.22', 'closed', [null, '10.99.0.22']), down]);
    expect(e.vantages[1]).toMatchObject({
      status: 'inconclusive',
      predicted: 'closed',
      message:
        'vantage ssh://audit@10.99.0.11:22 (10.99.0.11): could not be probed: ssh audit@10.99.0.11:22: host key mismatch; not compared',
    });
    expect(e.agree).toBe(true);
    expect(explainExitCode(e, 3)).toBe(3);
  });

  it('escapes control characters the MTA or the report put in names', async () => {
    const e = await join({}, [seen('10.99.0.22', 'open', ['evil\x1b]0;owned\x07.test', '127.0.0.1'])]);
    const text = formatExplainText(e);
    expect(text).toContain('the MTA saw it as 127.0.0.1 (evil\\x1b]0;owned\\x07.test)');
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  });
});

describe('explain: reading the probe report', () => {
  const report = (vantages: unknown): string => JSON.stringify({ target: '10.99.0.1', port: 25, verdict: 'closed', vantages });

  it('reads what probe --json writes', () => {
    const o = parseProbeReport(
      report([
        {
          vantage: '10.99.0.21',
          seen_as: { name: null, address: '10.99.0.21', greeting: '250-x Hello [10.99.0.21]' },
          verdict: 'closed',
          ports: [],
          probes: [
            {
              id: 'nmap-01',
              port: 25,
              ehlo: 'relay-audit.test',
              mail_from: '',
              rcpt_to: `relaytest@${EXT}`,
              stage: 'RCPT',
              code: 550,
              text: '550 no',
              class: 'DENIED',
            },
          ],
        },
      ]),
      'r.json',
    );
    expect(o).toEqual({
      target: '10.99.0.1',
      vantages: [
        {
          vantage: '10.99.0.21',
          verdict: 'closed',
          seen_as: { name: null, address: '10.99.0.21' },
          probes: [{ id: 'nmap-01', mail_from: '', rcpt_to: `relaytest@${EXT}`, class: 'DENIED' }],
        },
      ],
    });
  });

  it.each([
    ['nope', "r.json: not the output of 'relay-audit probe --json' (not JSON)"],
    ['[]', "r.json: not the output of 'relay-audit probe --json' (not a JSON object)"],
    ['{"vantages":[]}', 'r.json: not the output of \'relay-audit probe --json\' (no "target")'],
    [
      report([{ vantage: 'x', verdict: 'maybe', seen_as: null, probes: [] }]),
      "r.json: not the output of 'relay-audit probe --json' (vantages[0].verdict is not open, closed or inconclusive)",
    ],
    [
      report([{ vantage: 'x', verdict: 'open', seen_as: null, probes: [{ id: 'a' }] }]),
      "r.json: not the output of 'relay-audit probe --json' (vantages[0].probes[0] is not a probe result)",
    ],
    [
      '{"ok":false,"error":{"code":"E_TARGET","message":"--target \'x\' is not HOST[:PORT]"}}',
      "r.json: the probe itself failed: --target 'x' is not HOST[:PORT]",
    ],
  ])('%s is one clear error', (text, message) => {
    expect(() => parseProbeReport(text, 'r.json')).toThrow(message);
  });

  it('finds the external domain the probes used, and the address a vantage names', () => {
    const probes = (rcpts: string[]): ObservedVantage['probes'] =>
      rcpts.map((r, i) => ({ id: `p${i}`, mail_from: '', rcpt_to: r, class: 'DENIED' }));
    expect(
      inferExtDomain({
        target: 't',
        vantages: [
          seen(
            'a',
            'closed',
            null,
            probes([
              'relaytest@Relay-Check.example',
              'relaytest%relay-check.example@[10.0.0.1]',
              '"relaytest@relay-check.example"',
              'relaytest@[192.0.2.1]',
              'relaytest@relay-check.example.',
              'relaytest@other.test',
            ]),
          ),
        ],
      }),
    ).toBe('relay-check.example');
    expect(inferExtDomain({ target: 't', vantages: [] })).toBeNull();
    expect(
      ['10.0.0.5', 'ssh://root@10.99.0.11:22', 'ssh://[2001:db8::1]:2222', 'ssh://bastion.example', 'local'].map(vantageAddress),
    ).toEqual(['10.0.0.5', '10.99.0.11', '2001:db8::1', null, null]);
  });
});
