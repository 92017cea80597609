/**
 * Timeline pictures: a pivot (one row per time bucket, one column per server), drawn as bars in
 * the terminal and, for reports, as an SVG line chart rendered by Apache ECharts on the server side
 * (its SVG renderer in SSR mode: no browser, no canvas, no script in the output). ECharts itself
 * is loaded only to draw (timeline-svg.ts), so that the other reports start fast.
 */
import type { LineSeriesOption } from 'echarts/charts';
import type { GridComponentOption, LegendComponentOption, TitleComponentOption } from 'echarts/components';
import type { ComposeOption } from 'echarts/core';
import { bucketTime } from '../time/zone.js';

export type ChartOption = ComposeOption<LineSeriesOption | GridComponentOption | LegendComponentOption | TitleComponentOption>;
export type ChartBucket = 'minute' | 'hour' | 'day';

export interface TimelinePoint {
  bucket: string;
  server: string;
  queries: number;
}

export interface Pivot {
  buckets: string[];
  servers: string[];
  /** counts[bucketIndex][serverIndex] */
  counts: number[][];
}

export function pivot(points: readonly TimelinePoint[]): Pivot {
  // Buckets in the order given (by time): a label does not always sort as its time (a repeated hour).
  const buckets = [...new Set(points.map((p) => p.bucket))];
  const servers = [...new Set(points.map((p) => p.server))].sort();
  const bi = new Map(buckets.map((b, i) => [b, i]));
  const si = new Map(servers.map((s, i) => [s, i]));
  const counts = buckets.map(() => servers.map(() => 0));
  for (const p of points) {
    const row = counts[bi.get(p.bucket) ?? 0];
    if (row) row[si.get(p.server) ?? 0] = (row[si.get(p.server) ?? 0] ?? 0) + p.queries;
  }
  return { buckets, servers, counts };
}

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A bar of `value / max` of `width` cells, in eighths of a cell. */
export function bar(value: number, max: number, width: number): string {
  if (max <= 0 || value <= 0) return '';
  const eighths = Math.max(1, Math.round((value / max) * width * 8));
  return '█'.repeat(Math.floor(eighths / 8)) + (EIGHTHS[eighths % 8] ?? '');
}

/** The pivot as a table with a bar of the total per bucket. */
export function terminalChart(p: Pivot, width = 40): string {
  const totals = p.counts.map((row) => row.reduce((a, b) => a + b, 0));
  const max = Math.max(0, ...totals);
  const head = ['time', ...p.servers, 'total'];
  const rows = p.buckets.map((b, i) => [b, ...(p.counts[i] ?? []).map(String), String(totals[i] ?? 0)]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const fmt = (cells: readonly string[]) =>
    cells.map((v, c) => (c === 0 ? v.padEnd(widths[c] ?? 0) : v.padStart(widths[c] ?? 0))).join('  ');
  const lines = [fmt(head), fmt(widths.map((w) => '-'.repeat(w)))];
  rows.forEach((r, i) => lines.push(`${fmt(r)}  ${bar(totals[i] ?? 0, max, width)}`.trimEnd()));
  return `${lines.join('\n')}\n`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Okabe–Ito: distinguishable with the common colour-vision deficiencies. */
export const COLORS = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#000000', '#F0E442'];

const STEP_MS: Record<ChartBucket, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

const dayOf = (t: number) => new Date(t).toISOString().slice(0, 10);
const hourOf = (t: number) => new Date(t).toISOString().slice(11, 16);

export interface Series {
  /** Bucket starts in ms (wall clock as UTC), every bucket from the first to the last. */
  times: number[];
  servers: string[];
  /** counts[serverIndex][timeIndex] */
  counts: number[][];
}

/**
 * The pivot on a time axis. Buckets without any query are not in the report's rows; they are added
 * here as zeros, so that a line does not bridge an outage as if queries had gone on.
 */
export function timeSeries(p: Pivot, per: ChartBucket): Series {
  const step = STEP_MS[per];
  const known = new Map(p.buckets.map((b, i) => [bucketTime(b), i]));
  const sorted = [...known.keys()].sort((a, b) => a - b);
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  let times = sorted;
  // A minute chart over a year would have half a million points: past that, only the known buckets.
  if (first !== undefined && last !== undefined && (last - first) / step <= 50_000) {
    times = [];
    for (let t = first; t <= last; t += step) times.push(t);
    times = [...new Set([...times, ...sorted])].sort((a, b) => a - b);
  }
  const counts = p.servers.map((_, si) =>
    times.map((t) => {
      const bi = known.get(t);
      return bi === undefined ? 0 : (p.counts[bi]?.[si] ?? 0);
    }),
  );
  return { times, servers: p.servers, counts };
}

function compact(n: number): string {
  if (Math.abs(n) >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (Math.abs(n) >= 1e4) return `${+(n / 1e3).toFixed(1)}k`;
  return n.toLocaleString('en-US');
}

export interface ChartOptions {
  per: ChartBucket;
  /** The report's range (wall clock, `YYYY-MM-DD HH:MM…`); the data's own range where absent. */
  since?: string;
  until?: string;
  width?: number;
  height?: number;
}

/** The title's second line: the range and the totals. */
export function chartSubtitle(s: Series, opts: ChartOptions): string {
  const total = s.counts.flat().reduce((a, b) => a + b, 0);
  const first = s.times[0];
  const last = s.times[s.times.length - 1];
  const show = (t: number) => (opts.per === 'day' ? dayOf(t) : `${dayOf(t)} ${hourOf(t)}`);
  const from = opts.since?.slice(0, 16) ?? (first === undefined ? 'start' : show(first));
  const to = opts.until?.slice(0, 16) ?? (last === undefined ? 'now' : show(last + STEP_MS[opts.per]));
  if (s.times.length === 0) return `${from} – ${to} (server wall clock) · no queries in the range`;
  const servers = s.servers.length === 1 ? '1 server' : `${s.servers.length} servers`;
  return `${from} – ${to} (server wall clock) · ${total.toLocaleString('en-US')} queries, ${servers}`;
}

/** The ECharts option: one line per server, hours on a time axis, the date under each midnight. */
export function chartOption(p: Pivot, opts: ChartOptions): ChartOption {
  const s = timeSeries(p, opts.per);
  const totals = new Map(s.servers.map((name, si) => [name, (s.counts[si] ?? []).reduce((a, b) => a + b, 0)]));
  const spansDays = s.times.length > 0 && dayOf(s.times[0] ?? 0) !== dayOf(s.times[s.times.length - 1] ?? 0);
  const label = (value: number, index: number): string => {
    if (opts.per === 'day') {
      const day = dayOf(value);
      return index === 0 || day.endsWith('-01-01') ? `${day.slice(5)}\n{date|${day.slice(0, 4)}}` : day.slice(5);
    }
    const hm = hourOf(value);
    return index === 0 || (spansDays && hm === '00:00') ? `${hm}\n{date|${dayOf(value)}}` : hm;
  };
  const font = { fontFamily: 'DejaVu Sans, Verdana, sans-serif' };
  return {
    animation: false,
    useUTC: true,
    backgroundColor: '#ffffff',
    color: COLORS,
    textStyle: font,
    title: {
      text: `DNS queries per ${opts.per}, per server`,
      subtext: chartSubtitle(s, opts),
      left: 16,
      top: 10,
      textStyle: { fontSize: 17, color: '#222222' },
      subtextStyle: { fontSize: 13, color: '#555555' },
    },
    legend: {
      top: 62,
      left: 16,
      itemWidth: 22,
      itemGap: 24,
      textStyle: { fontSize: 13, color: '#222222' },
      formatter: (name: string) => `${name} (${(totals.get(name) ?? 0).toLocaleString('en-US')})`,
    },
    grid: { left: 78, right: 40, top: 100, bottom: 52 },
    xAxis: {
      type: 'time',
      minInterval: STEP_MS[opts.per],
      splitNumber: 10,
      // A single bucket gets one bucket of room on each side (ECharts would otherwise span a day or more).
      min: s.times.length === 1 ? (s.times[0] ?? 0) - STEP_MS[opts.per] : s.times[0],
      max: s.times.length === 1 ? (s.times[0] ?? 0) + STEP_MS[opts.per] : s.times[s.times.length - 1],
      axisLabel: {
        formatter: label,
        fontSize: 12,
        color: '#333333',
        hideOverlap: true,
        showMinLabel: true,
        rich: { date: { fontSize: 11, color: '#777777', padding: [4, 0, 0, 0] } },
      },
      splitLine: { show: true, lineStyle: { color: '#eeeeee' } },
    },
    yAxis: {
      type: 'value',
      minInterval: 1,
      name: `queries per ${opts.per}`,
      nameLocation: 'middle',
      nameGap: 56,
      nameTextStyle: { fontSize: 13, color: '#333333' },
      axisLabel: { formatter: compact, fontSize: 12, color: '#333333' },
      splitLine: { lineStyle: { color: '#e3e3e3' } },
    },
    series: s.servers.map((name, si) => ({
      type: 'line',
      name,
      data: s.times.map((t, i) => [t, s.counts[si]?.[i] ?? 0]),
      showSymbol: s.times.length <= 48,
      symbol: 'circle',
      symbolSize: 5,
      lineStyle: { width: 2 },
      emphasis: { disabled: true },
    })),
  };
}

export function htmlPage(title: string, svg: string): string {
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>\n<body style="font-family: sans-serif">\n${svg}</body></html>\n`;
}
