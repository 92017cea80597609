/**
 * How the authoritative servers' answers are shown: the JSON object (exact, as received) and the
 * lines under a domain's table row (control characters escaped: names come from DNS). Pure.
 */
import { printable } from '@toolbox/shared';
import { mxSetText, serverText, type AuthReport, type ServerAnswer } from './compare.js';

export function authJson(r: AuthReport): Record<string, unknown> {
  const o: Record<string, unknown> = { zone: r.zone, ns: r.ns, servers: r.servers, unresolvable: r.unresolvable };
  if (r.error !== undefined) o.error = r.error;
  return o;
}

function serverLine(s: ServerAnswer): string {
  let said: string;
  if (s.skipped !== undefined) said = s.skipped;
  else if (s.lame) said = `lame: ${s.lame.detail}`;
  else said = `serial ${String(s.serial).padEnd(10)}  MX ${mxSetText(s)}`;
  return `      ${serverText(s).padEnd(40)} ${said}`;
}

/** The lines listing each server's answer, below the findings; '' without --authoritative. */
export function authTableLines(r: AuthReport | undefined): string {
  if (!r || r.zone === null) return '';
  const lines = [
    `    authoritative servers of ${r.zone}:`,
    ...r.servers.map(serverLine),
    ...r.unresolvable.map((u) => `      ${u.ns.padEnd(40)} no address (${u.why})`),
  ];
  return `${lines.map(printable).join('\n')}\n`;
}
