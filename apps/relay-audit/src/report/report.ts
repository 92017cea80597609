/**
 * Output of a probe run: the text table, JUnit XML for CI, and the state file with its diff. Pure.
 * The text forms go to a terminal (and into alert mail): every string in them that came from the
 * MTA or the command line is escaped with `printable`, so a banner cannot rewrite the screen. JSON,
 * JUnit (XML-escaped) and the state file keep the text exact.
 */
import { printable } from '@toolbox/shared';
import { isAccepted } from '../probe/classify.js';
import type { ProbeReport, ProbeResult } from '../probe/probe.js';

/** A probe's name in reports and state: its id, and the port when it is not the target's own. */
function pathName(r: ProbeReport, p: ProbeResult): string {
  return p.port === r.port ? p.id : `${p.id} port ${p.port}`;
}

function classCounts(probes: readonly ProbeResult[]): string {
  const counts = new Map<string, number>();
  for (const p of probes) counts.set(p.class, (counts.get(p.class) ?? 0) + 1);
  return `${probes.length} probes: ${[...counts].map(([c, n]) => `${c} ${n}`).join(', ')}`;
}

export function formatProbeText(r: ProbeReport): string {
  const out: string[] = [`target ${printable(r.target)}: ${r.verdict}`];
  for (const v of r.vantages) {
    const seen = v.seen_as ? `seen as ${printable(v.seen_as.name ?? '?')} [${printable(v.seen_as.address ?? '?')}]` : 'not reached';
    out.push(`  vantage ${printable(v.vantage)}: ${v.verdict}, ${seen}${v.error ? ` — ${printable(v.error)}` : ''}`);
    const onTarget = v.probes.filter((p) => p.port === r.port);
    if (onTarget.length > 0) out.push(`    ${classCounts(onTarget)}`);
    for (const port of v.ports.filter((x) => x.port !== r.port)) {
      const name = `port ${port.port}${port.tls === 'implicit' ? ' (TLS)' : ''}`;
      if (port.status === 'closed') out.push(`    ${name}: closed — ${printable(port.note ?? '')}`);
      else out.push(`    ${name}: ${classCounts(v.probes.filter((p) => p.port === port.port))}`);
    }
    const open = v.probes.filter((x) => isAccepted(x.class));
    for (const x of open.slice(0, 3)) {
      out.push(
        `    OPEN ${printable(pathName(r, x))}: EHLO ${printable(x.ehlo)} MAIL FROM:<${printable(x.mail_from)}> RCPT TO:<${printable(x.rcpt_to)}> → ${printable(x.text.split('\n').pop() ?? '')}`,
      );
    }
    if (open.length > 3) out.push(`    … and ${open.length - 3} more open paths (--json lists every probe)`);
  }
  return `${out.join('\n')}\n`;
}

const xml = (s: string): string =>
  s
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c)
    .replace(/[^\t\n\r\u0020-\uffff]/g, '');

/** One testsuite per vantage, one testcase per probe; an accepted relay is a failure. */
export function toJunit(r: ProbeReport): string {
  const suites = r.vantages.map((v) => {
    const cases = v.probes.map((p) => {
      const body = isAccepted(p.class)
        ? `<failure type="${p.class}" message="${xml(`relayed: ${p.text.split('\n').pop() ?? ''}`)}">${xml(`MAIL FROM:<${p.mail_from}> RCPT TO:<${p.rcpt_to}> → ${p.text}`)}</failure>`
        : '';
      return `    <testcase classname="${xml(`${r.target}.${v.vantage}`)}" name="${xml(pathName(r, p))}">${body}</testcase>`;
    });
    if (v.error !== undefined)
      cases.push(
        `    <testcase classname="${xml(`${r.target}.${v.vantage}`)}" name="vantage"><error message="${xml(v.error)}"/></testcase>`,
      );
    const failures = v.probes.filter((p) => isAccepted(p.class)).length;
    return `  <testsuite name="${xml(`relay-audit ${r.target} from ${v.vantage}`)}" tests="${cases.length}" failures="${failures}" errors="${v.error === undefined ? 0 : 1}">\n${cases.join('\n')}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="relay-audit">\n${suites.join('\n')}\n</testsuites>\n`;
}

export interface State {
  target: string;
  verdict: string;
  time: string;
  /** "vantage probe-id" for every accepted probe ("vantage probe-id port N" on a submission port). */
  open: string[];
  /** Vantages that could not be probed. */
  unreachable: string[];
}

export function stateOf(r: ProbeReport, now: Date): State {
  return {
    target: r.target,
    verdict: r.verdict,
    time: now.toISOString(),
    open: r.vantages.flatMap((v) => v.probes.filter((p) => isAccepted(p.class)).map((p) => `${v.vantage} ${pathName(r, p)}`)).sort(),
    unreachable: r.vantages
      .filter((v) => v.error !== undefined)
      .map((v) => v.vantage)
      .sort(),
  };
}

export interface StateDiff {
  since: string | null;
  verdict: { before: string | null; now: string };
  newlyOpen: string[];
  closedSince: string[];
  newlyUnreachable: string[];
  changed: boolean;
}

export function diffState(before: State | null, now: State): StateDiff {
  const was = new Set(before?.open ?? []);
  const is = new Set(now.open);
  const wasDown = new Set(before?.unreachable ?? []);
  const d: StateDiff = {
    since: before?.time ?? null,
    verdict: { before: before?.verdict ?? null, now: now.verdict },
    newlyOpen: now.open.filter((x) => !was.has(x)),
    closedSince: [...was].filter((x) => !is.has(x)).sort(),
    newlyUnreachable: now.unreachable.filter((x) => !wasDown.has(x)),
    changed: false,
  };
  d.changed =
    before === null || d.verdict.before !== d.verdict.now || d.newlyOpen.length + d.closedSince.length + d.newlyUnreachable.length > 0;
  return d;
}

export function formatDiff(target: string, d: StateDiff): string {
  // the previous run's part comes from the state file: escaped like the rest
  if (d.since === null) return `${printable(target)}: first run, verdict ${printable(d.verdict.now)}\n`;
  if (!d.changed) return `${printable(target)}: no change since ${printable(d.since)} (verdict ${printable(d.verdict.now)})\n`;
  const out = [
    `${printable(target)}: changed since ${printable(d.since)}: verdict ${printable(d.verdict.before ?? '?')} → ${printable(d.verdict.now)}`,
  ];
  for (const x of d.newlyOpen) out.push(`  NEW OPEN PATH ${printable(x)}`);
  for (const x of d.closedSince) out.push(`  closed since: ${printable(x)}`);
  for (const x of d.newlyUnreachable) out.push(`  vantage now unreachable: ${printable(x)}`);
  return `${out.join('\n')}\n`;
}

/** Reads a state file's text; anything else than what stateOf writes is a clear error. */
export function parseState(text: string, path: string): State {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`${path}: not a relay-audit state file (not JSON)`);
  }
  const o = v as Partial<State>;
  if (typeof o.target !== 'string' || typeof o.verdict !== 'string' || !Array.isArray(o.open)) {
    throw new Error(`${path}: not a relay-audit state file`);
  }
  return {
    target: o.target,
    verdict: o.verdict,
    time: typeof o.time === 'string' ? o.time : '',
    open: o.open,
    unreachable: Array.isArray(o.unreachable) ? o.unreachable : [],
  };
}
