/**
 * Output of the main command: one NDJSON object per domain, or a table row per domain with its
 * findings indented below; and the summary line. Pure formatting.
 */
import { printable } from '@toolbox/shared';
import type { CheckResult } from '../check/check.js';
import type { MxView, Verdict } from '../classify/classify-mx.js';

export function jsonObject(r: CheckResult): Record<string, unknown> {
  const o: Record<string, unknown> = {
    domain: r.domain,
    verdict: r.verdict,
    findings: r.findings,
    mx: r.mx,
    resolver: r.resolver,
    ms: r.ms,
  };
  if (r.views) o.views = r.views;
  return o;
}

export const TABLE_HEADER = `${'DOMAIN'.padEnd(32)} ${'VERDICT'.padEnd(8)} MX`;

function mxText(m: MxView): string {
  if (m.exchange === '.') return `${m.preference} .`;
  const via = m.cname.length > 0 ? ` -> ${m.cname.join(' -> ')}` : '';
  const addrs = m.addresses.length > 0 ? ` (${m.addresses.join(', ')})` : '';
  return `${m.preference} ${m.exchange}${via}${addrs}`;
}

/**
 * A result as table lines. Names, records and details come from DNS, where a label may hold any
 * byte: control characters are escaped (`printable`) so that none reaches the terminal.
 */
export function tableRow(r: CheckResult): string {
  const mx = r.mx.length > 0 ? r.mx.map(mxText).join('; ') : '-';
  const lines = [`${printable(r.domain).padEnd(32)} ${r.verdict.padEnd(8)} ${printable(mx)}`];
  for (const f of r.findings) {
    lines.push(`    ${f.severity.padEnd(4)} ${f.code}${f.record ? ` [${printable(f.record)}]` : ''}: ${printable(f.detail)}`);
  }
  return `${lines.join('\n')}\n`;
}

export function summaryLine(counts: ReadonlyMap<Verdict, number>, total: number, seconds: number): string {
  const order: Verdict[] = ['ok', 'warn', 'no_mail', 'fail', 'error'];
  const parts = order.map((v) => `${counts.get(v) ?? 0} ${v}`);
  return `${total} domain(s): ${parts.join(', ')} in ${seconds.toFixed(2)}s`;
}
