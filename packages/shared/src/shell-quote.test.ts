import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UserError } from './errors.js';
import { shellCommand, shellQuote } from './shell-quote.js';

const HOSTILE = [
  'plain',
  'abc/d.log',
  'with space',
  '  leading and trailing  ',
  "it's",
  "''",
  'say "hi"',
  'back\\slash',
  'trailing\\',
  'new\nline',
  '\n',
  'tab\there',
  '$(touch /tmp/pwned-by-shell-quote)',
  '`id`',
  '${HOME}',
  '$HOME',
  '*',
  '?',
  '[a-z]*.log',
  '-rf',
  '--',
  '-',
  '',
  'a=b',
  '~',
  '~root',
  '{a,b}',
  '#not a comment',
  '!!',
  'semi;colon',
  'pipe|amp&',
  'redir>out<in',
  '(sub)',
  'héllo wörld',
  '日本語 ファイル.log',
  'emoji 🎉',
  'mixed \'single\' "double" \\ $x `y` \n end',
];

/** Runs the quoted argv through a real shell and returns what the command received. */
function roundTrip(shell: string, args: readonly string[]): string[] {
  const out = execFileSync(shell, ['-c', shellCommand(['printf', '%s\\0', ...args])], { encoding: 'utf8' });
  const parts = out.split('\0');
  expect(parts.pop()).toBe('');
  return parts;
}

const shells = ['/bin/sh', '/bin/dash', '/bin/bash', '/bin/zsh', '/bin/ksh'].filter((s) => existsSync(s));

describe('shellQuote', () => {
  it('leaves safe words bare', () => {
    expect(shellQuote('abc/d.log')).toBe('abc/d.log');
    expect(shellQuote('-rf')).toBe('-rf');
    expect(shellQuote('user@host:/var/log/x_1.2,3+4%')).toBe('user@host:/var/log/x_1.2,3+4%');
  });

  it('quotes the empty string as two single quotes', () => {
    expect(shellQuote('')).toBe("''");
  });

  it('writes a single quote as close, escaped quote, reopen', () => {
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote("'")).toBe("''\\'''");
  });

  it('single-quotes everything else verbatim', () => {
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote('$(id)')).toBe("'$(id)'");
    expect(shellQuote('back\\slash')).toBe("'back\\slash'");
    expect(shellQuote('new\nline')).toBe("'new\nline'");
    expect(shellQuote('a=b')).toBe("'a=b'");
    expect(shellQuote('~')).toBe("'~'");
    expect(shellQuote('héllo')).toBe("'héllo'");
  });

  it('refuses a NUL byte, which no argv can carry', () => {
    expect(() => shellQuote('a\0b')).toThrow(UserError);
    expect(() => shellQuote('a\0b')).toThrow(/contains a NUL byte/);
  });
});

describe('shellCommand', () => {
  it('joins quoted arguments with single spaces', () => {
    expect(shellCommand(['mv', '--', 'a b', "c'd"])).toBe("mv -- 'a b' 'c'\\''d'");
    expect(shellCommand(['cat', '--', ''])).toBe("cat -- ''");
  });

  it('refuses an empty argv', () => {
    expect(() => shellCommand([])).toThrow(/argv is empty/);
  });
});

describe.each(shells)('round trip through %s', (shell) => {
  it('hands every hostile argument to the command unchanged', () => {
    expect(roundTrip(shell, HOSTILE)).toEqual(HOSTILE);
  });

  it('never expands globs against the working directory', () => {
    const out = execFileSync(shell, ['-c', shellCommand(['printf', '%s\\0', '*', '?', '[a-z]*'])], {
      cwd: '/',
      encoding: 'utf8',
    });
    expect(out).toBe('*\0?\0[a-z]*\0');
  });

  it('keeps a leading dash as an argument, not an option of the shell', () => {
    const out = execFileSync(shell, ['-c', shellCommand(['printf', '%s|', '-n', '-e', '--'])], { encoding: 'utf8' });
    expect(out).toBe('-n|-e|--|');
  });

  it('survives random strings over a hostile alphabet', () => {
    const alphabet = [...'ab \'"\\\n\t$`*?[]{}~#!;&|<>()=-é日🎉'];
    let seed = 12345;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const samples = Array.from({ length: 300 }, () =>
      Array.from({ length: next() % 12 }, () => alphabet[next() % alphabet.length]).join(''),
    );
    expect(roundTrip(shell, samples)).toEqual(samples);
  });
});
