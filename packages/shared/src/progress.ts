/**
 * Progress for long work: a bar with rate and ETA on a TTY; on anything else nothing, or JSON lines
 * when asked (so cron mail stays clean and CI logs stay parseable).
 */
import type { Writable } from 'node:stream';

export type ProgressUnit = 'bytes' | 'items';
export type ProgressMode = 'tty' | 'json' | 'none';

export interface ProgressState {
  label: string;
  done: number;
  /** null when the total is unknown (a stream). */
  total: number | null;
  elapsedMs: number;
  unit: ProgressUnit;
}

export interface ProgressOptions {
  label: string;
  total?: number | null;
  unit?: ProgressUnit;
  stream: Writable & { isTTY?: boolean; columns?: number };
  /** 'json' for JSON lines; default: a bar on a TTY, nothing otherwise. */
  mode?: ProgressMode;
  /** Clock in ms, injected by tests. */
  now?: () => number;
  /** Minimum ms between two renders (default 100 on a TTY, 1000 for JSON lines). */
  intervalMs?: number;
}

export interface Progress {
  /** Sets the amount done so far. */
  update(done: number): void;
  /** Adds to the amount done. */
  add(delta: number): void;
  /** Final render (a newline on a TTY, a 'done' event in JSON). */
  finish(): void;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(n: number): string {
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${BYTE_UNITS[i]}`;
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** Rate in units per second and ETA in seconds (null when unknown). */
export function progressRates(state: ProgressState): { rate: number; etaSeconds: number | null } {
  const secs = state.elapsedMs / 1000;
  const rate = secs > 0 ? state.done / secs : 0;
  const etaSeconds = state.total !== null && rate > 0 ? Math.max(0, (state.total - state.done) / rate) : null;
  return { rate, etaSeconds };
}

/** One line of TTY progress, fitted to `width` columns. */
export function formatProgressLine(state: ProgressState, width = 80): string {
  const fmt = state.unit === 'bytes' ? formatBytes : formatCount;
  const { rate, etaSeconds } = progressRates(state);
  const rateText = state.unit === 'bytes' ? `${formatBytes(rate)}/s` : `${formatCount(rate)}/s`;
  if (state.total === null || state.total <= 0) {
    return `${state.label} ${fmt(state.done)} ${rateText}`.slice(0, width);
  }
  const frac = Math.min(1, state.done / state.total);
  const pct = `${(frac * 100).toFixed(1).padStart(5)}%`;
  const tail = ` ${pct} ${fmt(state.done)}/${fmt(state.total)} ${rateText} ETA ${formatDuration(etaSeconds ?? NaN)}`;
  const barWidth = Math.max(10, Math.min(40, width - state.label.length - tail.length - 3));
  const filled = Math.round(frac * barWidth);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]`;
  return `${state.label} ${bar}${tail}`.slice(0, width);
}

/** One JSON-lines progress event. */
export function progressEvent(state: ProgressState, event: 'progress' | 'done'): Record<string, unknown> {
  const { rate, etaSeconds } = progressRates(state);
  return {
    event,
    label: state.label,
    done: state.done,
    total: state.total,
    unit: state.unit,
    elapsed_s: Math.round(state.elapsedMs) / 1000,
    rate: Math.round(rate),
    eta_s: etaSeconds === null ? null : Math.round(etaSeconds),
  };
}

export function createProgress(options: ProgressOptions): Progress {
  const now = options.now ?? Date.now;
  const mode: ProgressMode = options.mode ?? (options.stream.isTTY ? 'tty' : 'none');
  const interval = options.intervalMs ?? (mode === 'json' ? 1000 : 100);
  const started = now();
  let done = 0;
  let lastRender = -Infinity;
  let finished = false;

  const state = (): ProgressState => ({
    label: options.label,
    done,
    total: options.total ?? null,
    elapsedMs: now() - started,
    unit: options.unit ?? 'items',
  });
  const render = (final: boolean): void => {
    if (mode === 'none') return;
    const t = now();
    if (!final && t - lastRender < interval) return;
    lastRender = t;
    if (mode === 'tty') {
      const width = options.stream.columns ?? 80;
      options.stream.write(`\r\x1b[K${formatProgressLine(state(), width - 1)}${final ? '\n' : ''}`);
    } else {
      options.stream.write(`${JSON.stringify(progressEvent(state(), final ? 'done' : 'progress'))}\n`);
    }
  };
  return {
    update(n: number) {
      done = n;
      render(false);
    },
    add(delta: number) {
      done += delta;
      render(false);
    },
    finish() {
      if (finished) return;
      finished = true;
      render(true);
    },
  };
}
