/**
 * `mx-check suggest DOMAIN --no-mail`: the records that declare a domain mail-less the standard way
 * (pure text), and the command that prints them.
 */
import { UserError, writeJson, type CliIo } from '@toolbox/shared/cli';
import { domainProblem, normalizeName } from '../classify/names.js';

export interface SuggestCommandOptions {
  /** false with --no-mail (commander's negated flag). */
  mail: boolean;
  json: boolean;
}
export interface SuggestedRecord {
  name: string;
  type: 'MX' | 'TXT';
  value: string;
  why: string;
}

export function noMailRecords(domain: string): SuggestedRecord[] {
  const d = `${domain}.`;
  return [
    { name: d, type: 'MX', value: '0 .', why: 'RFC 7505 null MX: senders fail at once with a clear bounce instead of retrying for days' },
    { name: d, type: 'TXT', value: '"v=spf1 -all"', why: 'RFC 7208: no host may send mail as this domain' },
    {
      name: `_dmarc.${d}`,
      type: 'TXT',
      value: '"v=DMARC1; p=reject;"',
      why: 'RFC 7489: receivers reject mail that claims to come from it',
    },
    {
      name: `*._domainkey.${d}`,
      type: 'TXT',
      value: '"v=DKIM1; p="',
      why: 'an empty DKIM key: any DKIM signature for it is revoked (RFC 6376 §3.6.1)',
    },
  ];
}

export function noMailZoneText(domain: string): string {
  const recs = noMailRecords(domain);
  const width = Math.max(...recs.map((r) => r.name.length));
  const lines = [`; ${domain} receives no mail and sends none`];
  for (const r of recs) lines.push(`${r.name.padEnd(width)}  IN ${r.type.padEnd(3)} ${r.value}  ; ${r.why}`);
  lines.push(
    ';',
    '; Every other name under the domain that has an address can take the same MX and SPF records',
    '; (a wildcard only covers names that do not exist).',
    ';',
    `; Not this: "${domain}. IN MX 10 localhost." — the legacy trick. A sender that honours it`,
    '; connects to itself: it delivers locally, loops, or keeps the message queued and retries for days,',
    '; spending its own resources and telling nobody why. RFC 5321 §5.1 makes senders discard such',
    '; records, RFC 7505 gives the standard way, and mx-check reports the trick as MX_LOCALHOST.',
  );
  return `${lines.join('\n')}\n`;
}

export function runSuggest(domain: string, opts: SuggestCommandOptions, io: CliIo): void {
  if (opts.mail !== false) throw new UserError('E_USAGE', 'suggest needs --no-mail (the only suggestion there is so far)');
  const problem = domainProblem(domain);
  if (problem !== null) throw new UserError('E_DOMAIN', `'${domain}' is not a domain: ${problem}`);
  const d = normalizeName(domain);
  if (opts.json) writeJson(io.stdout, { domain: d, records: noMailRecords(d) });
  else io.stdout.write(noMailZoneText(d));
}
