import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress, formatBytes, formatDuration, formatProgressLine, progressEvent, type ProgressState } from './progress.js';

const state = (over: Partial<ProgressState> = {}): ProgressState => ({
  label: 'pass 1/2',
  done: 512 * 1024 * 1024,
  total: 1024 * 1024 * 1024,
  elapsedMs: 4000,
  unit: 'bytes',
  ...over,
});

function sink(isTTY: boolean) {
  const s = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  s.isTTY = isTTY;
  s.columns = 100;
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  return { s, text: () => text };
}

describe('formatting', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(300 * 1024 * 1024)).toBe('300.0 MiB');
  });

  it('formats durations', () => {
    expect(formatDuration(5)).toBe('00:05');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(NaN)).toBe('--:--');
  });

  it('draws a bar with percent, rate and ETA', () => {
    expect(formatProgressLine(state(), 100)).toBe(
      'pass 1/2 [####################--------------------]  50.0% 512.0 MiB/1.00 GiB 128.0 MiB/s ETA 00:04',
    );
  });

  it('shows count and rate when the total is unknown', () => {
    expect(formatProgressLine(state({ total: null, unit: 'items', done: 5000, label: 'rows' }))).toBe('rows 5,000 1,250/s');
  });

  it('never exceeds the width', () => {
    expect(formatProgressLine(state(), 40).length).toBeLessThanOrEqual(40);
  });

  it('makes a JSON event with rate and ETA', () => {
    expect(progressEvent(state(), 'progress')).toEqual({
      event: 'progress',
      label: 'pass 1/2',
      done: 536870912,
      total: 1073741824,
      unit: 'bytes',
      elapsed_s: 4,
      rate: 134217728,
      eta_s: 4,
    });
  });
});

describe('createProgress', () => {
  it('prints nothing when not on a TTY', () => {
    const { s, text } = sink(false);
    const p = createProgress({ label: 'x', total: 10, stream: s });
    p.update(5);
    p.finish();
    expect(text()).toBe('');
  });

  it('redraws one line on a TTY, throttled, ending with a newline', () => {
    const { s, text } = sink(true);
    let t = 0;
    const p = createProgress({ label: 'x', total: 10, stream: s, now: () => t });
    t = 1000;
    p.update(5); // rendered
    t = 1050;
    p.update(6); // throttled (<100 ms)
    t = 2000;
    p.finish();
    const frames = text().split('\r\x1b[K').filter(Boolean);
    expect(frames).toHaveLength(2);
    expect(frames[0]).toContain(' 50.0% 5/10');
    expect(frames[1]).toMatch(/ 60\.0% 6\/10 .*\n$/);
  });

  it('writes JSON lines when asked, with a final done event', () => {
    const { s, text } = sink(false);
    let t = 0;
    const p = createProgress({ label: 'load', stream: s, mode: 'json', now: () => t });
    t = 1000;
    p.add(100);
    t = 1500;
    p.add(100); // throttled
    t = 2000;
    p.finish();
    p.finish(); // idempotent
    const events = text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.map((e) => [e.event, e.done])).toEqual([
      ['progress', 100],
      ['done', 200],
    ]);
  });
});
