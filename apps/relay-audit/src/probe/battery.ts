/**
 * The relay battery as a plan: target and external domain in, a list of probes out. Pure: nothing
 * here opens a connection. Every MAIL FROM / RCPT TO form of nmap's smtp-open-relay script is here
 * (ids `nmap-01` … `nmap-16`, in its order), plus the forms classic relay-test batteries and sendmail's
 * address semantics add, and the same core forms under other EHLO names.
 */
import { matchGlob, registrableDomain, UserError } from '@toolbox/shared';

export interface BatteryInput {
  /** The name the target calls itself (banner or `--target` name). */
  serverName: string;
  /** The target's IP address as the probe connects to it. */
  serverIp: string;
  /** The external domain every probe tries to reach; one the user names (`.test`, `.example`, …). */
  extDomain: string;
  /** Local part of the external recipient. */
  rcptLocal: string;
  /** Local part of forged senders. */
  fromLocal: string;
  /** Our own EHLO name (default EHLO of every form). */
  ehloName: string;
  /** Extra EHLO names to try the core forms under (`--ehlo`). */
  extraEhlo: readonly string[];
  /** The target's mail domain (the registrable domain of its name), for "sender in its own domain". */
  mailDomain?: string;
  /** Destination domains the target is believed to relay to (relay_based_on_MX, mailertable). */
  viaDomains?: readonly string[];
}

export interface Probe {
  id: string;
  ehlo: string;
  mailFrom: string;
  rcptTo: string;
  /** A local recipient sent first (its reply is recorded but does not decide the class). */
  localFirst?: string;
}

function literal(ip: string): string {
  return ip.includes(':') ? `[IPv6:${ip}]` : `[${ip}]`;
}

/** nmap's 16 forms, in its order. */
function nmapForms(b: BatteryInput): Omit<Probe, 'ehlo'>[] {
  const rcpt = `${b.rcptLocal}@${b.extDomain}`;
  const ip = literal(b.serverIp);
  const name = b.serverName;
  const from = b.fromLocal;
  const forms: [string, string][] = [
    ['', rcpt],
    [`${from}@${b.extDomain}`, rcpt],
    [`${from}@${name}`, rcpt],
    [`${from}@${ip}`, rcpt],
    [`${from}@${ip}`, `${b.rcptLocal}%${b.extDomain}@${ip}`],
    [`${from}@${ip}`, `${b.rcptLocal}%${b.extDomain}@${name}`],
    [`${from}@${ip}`, `"${rcpt}"`],
    [`${from}@${ip}`, `"${b.rcptLocal}%${b.extDomain}"`],
    [`${from}@${ip}`, `${rcpt}@${ip}`],
    [`${from}@${ip}`, `"${rcpt}"@${ip}`],
    [`${from}@${ip}`, `${rcpt}@${name}`],
    [`${from}@${ip}`, `@${ip}:${rcpt}`],
    [`${from}@${ip}`, `@${name}:${rcpt}`],
    [`${from}@${ip}`, `${b.extDomain}!${b.rcptLocal}`],
    [`${from}@${ip}`, `${b.extDomain}!${b.rcptLocal}@${ip}`],
    [`${from}@${ip}`, `${b.extDomain}!${b.rcptLocal}@${name}`],
  ];
  return forms.map(([mailFrom, rcptTo], i) => ({ id: `nmap-${String(i + 1).padStart(2, '0')}`, mailFrom, rcptTo }));
}

/** What classic batteries and sendmail's semantics add. */
function extraForms(b: BatteryInput): Omit<Probe, 'ehlo'>[] {
  const rcpt = `${b.rcptLocal}@${b.extDomain}`;
  const from = b.fromLocal;
  const ip = literal(b.serverIp);
  const own = b.mailDomain ?? registrableDomain(b.serverName);
  const forms: Omit<Probe, 'ehlo'>[] = [
    { id: 'from-unqualified', mailFrom: from, rcptTo: rcpt },
    { id: 'from-localhost', mailFrom: `${from}@localhost`, rcptTo: rcpt },
    { id: 'from-own-domain', mailFrom: `postmaster@${own}`, rcptTo: rcpt },
    { id: 'from-own-domain-upper', mailFrom: `POSTMASTER@${own.toUpperCase()}`, rcptTo: rcpt },
    { id: 'via-mail-domain-percent', mailFrom: `${from}@${own}`, rcptTo: `${b.rcptLocal}%${b.extDomain}@${own}` },
    { id: 'via-mail-domain-route', mailFrom: `${from}@${own}`, rcptTo: `@${own}:${rcpt}` },
    { id: 'rcpt-upper', mailFrom: `${from}@${own}`, rcptTo: rcpt.toUpperCase() },
    { id: 'rcpt-trailing-dot', mailFrom: `${from}@${own}`, rcptTo: `${rcpt}.` },
    { id: 'rcpt-ip-literal', mailFrom: `${from}@${own}`, rcptTo: `${b.rcptLocal}@[192.0.2.1]` },
    { id: 'rcpt-ipv6-literal', mailFrom: `${from}@${own}`, rcptTo: `${b.rcptLocal}@[IPv6:2001:db8::1]` },
    { id: 'rcpt-percent-localhost', mailFrom: `${from}@${own}`, rcptTo: `${b.rcptLocal}%${b.extDomain}@localhost` },
    { id: 'rcpt-route-localhost', mailFrom: `${from}@${own}`, rcptTo: `@localhost:${rcpt}` },
    { id: 'rcpt-bang-via-literal', mailFrom: `${from}@${ip}`, rcptTo: `${ip}!${b.extDomain}!${b.rcptLocal}` },
    { id: 'local-first', mailFrom: `${from}@${own}`, rcptTo: rcpt, localFirst: 'postmaster' },
  ];
  for (const via of b.viaDomains ?? []) {
    const tag = via.replace(/[^A-Za-z0-9.-]/g, '_');
    forms.push({ id: `via-${tag}-percent`, mailFrom: `${from}@${own}`, rcptTo: `${b.rcptLocal}%${b.extDomain}@${via}` });
    forms.push({ id: `via-${tag}-route`, mailFrom: `${from}@${own}`, rcptTo: `@${via}:${rcpt}` });
  }
  return forms;
}

/** The EHLO names tried beside our own: what an MTA might trust. */
export function ehloVariants(b: BatteryInput): string[] {
  const names = ['localhost', 'localhost.localdomain', b.serverName, literal(b.serverIp), ...b.extraEhlo];
  return [...new Set(names.filter((n) => n !== b.ehloName))];
}

const CORE_FORMS = ['nmap-01', 'nmap-02', 'from-own-domain'];

/**
 * The whole battery: every form under our EHLO name, and the core forms again under each EHLO
 * variant (`ehlo-localhost/nmap-01`, …). Ids are stable across runs so that state files diff.
 */
export function buildBattery(b: BatteryInput): Probe[] {
  for (const [what, v] of [
    ['external domain', b.extDomain],
    ['EHLO name', b.ehloName],
    ['sender local part', b.fromLocal],
  ] as const) {
    if (!/^[A-Za-z0-9._+-]+$/.test(v) && !(what === 'EHLO name' && /^\[[0-9A-Fa-f:.]+\]$|^\[IPv6:[0-9A-Fa-f:.]+\]$/.test(v))) {
      throw new UserError('E_BATTERY', `the ${what} '${v}' has characters that do not belong in an SMTP address or name`);
    }
  }
  const forms = [...nmapForms(b), ...extraForms(b)];
  const probes: Probe[] = forms.map((f) => ({ ...f, ehlo: b.ehloName }));
  for (const ehlo of ehloVariants(b)) {
    const tag = ehlo.replace(/[[\]]/g, '').replace(/[^A-Za-z0-9.:-]/g, '_');
    for (const f of forms.filter((x) => CORE_FORMS.includes(x.id))) probes.push({ ...f, id: `ehlo-${tag}/${f.id}`, ehlo });
  }
  return probes;
}

/** `--tests LIST`: comma-separated ids or globs (`nmap-*`, `ehlo-*`); `!` before one excludes it. */
export function selectProbes(probes: readonly Probe[], list: string | undefined): Probe[] {
  if (list === undefined || list.trim() === '') return [...probes];
  const items = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const include = items.filter((s) => !s.startsWith('!'));
  const exclude = items.filter((s) => s.startsWith('!')).map((s) => s.slice(1));
  const chosen = probes.filter(
    (p) => (include.length === 0 || include.some((g) => matchGlob(g, p.id))) && !exclude.some((g) => matchGlob(g, p.id)),
  );
  if (chosen.length === 0)
    throw new UserError('E_TESTS', `--tests '${list}' selects no probe (ids look like nmap-01, from-localhost, ehlo-localhost/nmap-01)`);
  return chosen;
}
