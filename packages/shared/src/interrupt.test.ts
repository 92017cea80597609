import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { withDoubleInterrupt } from './interrupt.js';

function harness() {
  const source = new EventEmitter();
  const lines: string[] = [];
  const exits: number[] = [];
  const opts = {
    tool: 'demo',
    firstMessage: 'demo: interrupted: finishing what is in flight (Ctrl-C again to stop at once)\n',
    source: source as unknown as Pick<NodeJS.Process, 'on' | 'off'>,
    stderr: { write: (s: string) => lines.push(s) > 0 },
    exit: (code: number) => void exits.push(code),
  };
  return { source, lines, exits, opts };
}

describe('withDoubleInterrupt', () => {
  it('aborts the signal on the first Ctrl-C and exits 130 on the second', async () => {
    const h = harness();
    const result = await withDoubleInterrupt(h.opts, async (signal) => {
      expect(signal.aborted).toBe(false);
      h.source.emit('SIGINT');
      expect(signal.aborted).toBe(true);
      expect(h.exits).toEqual([]);
      h.source.emit('SIGINT');
      return 'done';
    });
    expect(result).toBe('done');
    expect(h.lines).toEqual([h.opts.firstMessage, 'demo: interrupted again: exiting now\n']);
    expect(h.exits).toEqual([130]);
  });

  it('stops listening when the work ends, whether it returns or throws', async () => {
    const h = harness();
    await withDoubleInterrupt(h.opts, () => Promise.resolve());
    expect(h.source.listenerCount('SIGINT')).toBe(0);
    await expect(withDoubleInterrupt(h.opts, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(h.source.listenerCount('SIGINT')).toBe(0);
  });
});
