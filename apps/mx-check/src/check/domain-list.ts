/**
 * From command-line names and list files to the domains to check: blank lines and # comments are
 * skipped, names are normalized, duplicates are checked once, names that are not domains are kept
 * (in order) with the reason so that each gets its own clear message. Pure.
 */
import { domainProblem, normalizeName } from '../classify/names.js';

export interface ListEntry {
  /** As given. */
  input: string;
  /** Normalized, when it is a domain. */
  domain: string | null;
  problem: string | null;
}

export interface DomainList {
  entries: ListEntry[];
  /** Normalized names given more than once, with how many times. */
  duplicates: Map<string, number>;
}

/** The names of a list file: one per line, `#` starts a comment, surrounding blanks ignored. */
export function parseListText(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l !== '');
}

export function buildDomainList(names: readonly string[]): DomainList {
  const entries: ListEntry[] = [];
  const counts = new Map<string, number>();
  for (const input of names) {
    if (input.trim() === '') continue;
    const problem = domainProblem(input);
    const key = problem === null ? normalizeName(input) : input;
    const n = (counts.get(key) ?? 0) + 1;
    counts.set(key, n);
    if (n > 1) continue;
    entries.push({ input, domain: problem === null ? key : null, problem });
  }
  const duplicates = new Map([...counts].filter(([, n]) => n > 1));
  return { entries, duplicates };
}
