import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { collect, intOption, oneLine, runCli, type CliIo } from './cli.js';
import { UserError } from './errors.js';
import { createMemoryIo } from './memory-io.js';

function build(io: CliIo): Command {
  const program = new Command('demo').description('a demo tool').option('--debug', 'stack traces');
  program
    .command('ok')
    .option('--json', 'JSON output')
    .action((opts: { json?: boolean }) => {
      io.stdout.write(opts.json ? '{"ok":true}\n' : 'fine\n');
    });
  program.command('finds').action(() => {
    io.setExitCode(1);
    io.setExitCode(0); // a later "ok" does not hide findings
  });
  program
    .command('fails')
    .option('--json', 'JSON output')
    .action(() => {
      throw new UserError('E_THING', 'the thing at /x is broken; fix it with --force');
    });
  program.command('bug').action(() => {
    throw new TypeError('undefined is not a function');
  });
  program
    .command('count')
    .requiredOption('--n <n>', 'a number', intOption(1, 10))
    .action((opts: { n: number }) => {
      io.stdout.write(`${opts.n * 2}\n`);
    });
  program
    .command('sub')
    .command('deep')
    .action(() => {
      throw new UserError('E_DEEP', 'deep failure', { exitCode: 3 });
    });
  return program;
}

const run = async (...args: string[]) => {
  const io = createMemoryIo();
  const code = await runCli('demo', build, ['node', 'demo', ...args], io);
  return { code, out: io.out(), err: io.err() };
};

describe('runCli', () => {
  it('exits 0 on success', async () => {
    expect(await run('ok')).toEqual({ code: 0, out: 'fine\n', err: '' });
  });

  it('keeps the highest exit code set by a command', async () => {
    expect((await run('finds')).code).toBe(1);
  });

  it('prints a UserError as one line "tool: message" and exits 2', async () => {
    expect(await run('fails')).toEqual({ code: 2, out: '', err: 'demo: the thing at /x is broken; fix it with --force\n' });
  });

  it('adds a JSON error document on stdout with --json', async () => {
    const r = await run('fails', '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toEqual({
      ok: false,
      error: { code: 'E_THING', message: 'the thing at /x is broken; fix it with --force' },
    });
  });

  it('shows the stack only with --debug', async () => {
    expect((await run('fails')).err).not.toMatch(/\n\s+at /);
    const r = await run('--debug', 'fails');
    expect(r.err.split('\n')[0]).toBe('demo: the thing at /x is broken; fix it with --force');
    expect(r.err).toMatch(/\n\s+at /);
  });

  it('treats any other error as internal: exit 2 and a hint about --debug', async () => {
    const r = await run('bug');
    expect(r.code).toBe(2);
    expect(r.err).toBe('demo: internal error: undefined is not a function\ndemo: run again with --debug for the stack trace\n');
  });

  it('maps commander parse errors to exit 2 with the tool prefix', async () => {
    const r = await run('ok', '--nope');
    expect(r.code).toBe(2);
    expect(r.err).toBe("demo: unknown option '--nope'\n");
    expect((await run('nosuch')).code).toBe(2);
    const missing = await run('count');
    expect(missing.code).toBe(2);
    expect(missing.err).toBe("demo: required option '--n <n>' not specified\n");
  });

  it('validates integer options', async () => {
    expect((await run('count', '--n', '4')).out).toBe('8\n');
    const bad = await run('count', '--n', 'x4');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("'x4' is not an integer.");
    expect((await run('count', '--n', '11')).err).toContain('11 is out of range 1..10.');
  });

  it('uses an exit code carried by the error, also from nested subcommands', async () => {
    expect(await run('sub', 'deep')).toMatchObject({ code: 3, err: 'demo: deep failure\n' });
  });

  it('exits 0 for --help and prints the help to stdout', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: demo [options] [command]');
    expect(r.out).toContain('a demo tool');
  });
});

describe('oneLine', () => {
  it('keeps messages with newlines on one line', () => {
    expect(oneLine('bad file a\nb')).toBe('bad file a\\nb');
  });
});

describe('processIo', () => {
  it('ends quietly when the reader goes away (tool | head)', async () => {
    const { spawn } = await import('node:child_process');
    // The child runs the compiled module (Node 20 cannot strip types); turbo builds before testing.
    const mod = new URL('../dist/cli.js', import.meta.url).pathname;
    const script = `const { processIo } = await import(${JSON.stringify(mod)}); const io = processIo();
      const line = 'x'.repeat(1000) + '\\n'; const write = () => { while (io.stdout.write(line)); io.stdout.once('drain', write); }; write();`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(err).toBe('');
    expect(code).toBe(0);
  });
});

describe('collect', () => {
  const parse = (args: string[], withDefault: boolean) => {
    const program = new Command('demo').exitOverride();
    if (withDefault) program.option('--host <h>', 'repeatable', collect, []);
    else program.option('--host <h>', 'repeatable', collect);
    program.parse(args, { from: 'user' });
    return program.opts<{ host?: string[] }>().host;
  };

  it('gathers a repeated option in the order given', () => {
    expect(parse(['--host', 'a', '--host', 'b', '--host', 'a'], false)).toEqual(['a', 'b', 'a']);
    expect(parse(['--host', 'a', '--host', 'b'], true)).toEqual(['a', 'b']);
  });

  it('is undefined when absent without a default, and the default when given one', () => {
    expect(parse([], false)).toBeUndefined();
    expect(parse([], true)).toEqual([]);
  });
});
