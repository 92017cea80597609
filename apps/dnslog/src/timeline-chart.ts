/**
 * Timeline pictures: a pivot (one row per time bucket, one column per server), drawn as bars in
 * the terminal and as an SVG line chart (generated here: plain SVG 1.1, no library, no script).
 */

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
  const buckets = [...new Set(points.map((p) => p.bucket))].sort();
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
  const fmt = (cells: readonly string[]) => cells.map((v, c) => (c === 0 ? v.padEnd(widths[c] ?? 0) : v.padStart(widths[c] ?? 0))).join('  ');
  const lines = [fmt(head), fmt(widths.map((w) => '-'.repeat(w)))];
  rows.forEach((r, i) => lines.push(`${fmt(r)}  ${bar(totals[i] ?? 0, max, width)}`.trimEnd()));
  return `${lines.join('\n')}\n`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1, 2, 5 × 10^n steps so that about `n` grid lines span `max`. */
export function niceStep(max: number, n = 5): number {
  if (max <= 0) return 1;
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/** Okabe–Ito: distinguishable with the common colour-vision deficiencies. */
const COLORS = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'];

function compact(n: number): string {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/** An SVG line chart: queries per bucket, one line per server, time labels on the x axis. */
export function svgChart(p: Pivot, opts: { title: string; unit: string; width?: number; height?: number }): string {
  const W = opts.width ?? 960;
  const H = opts.height ?? 420;
  const m = { left: 70, right: 170, top: 50, bottom: 70 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const max = Math.max(1, ...p.counts.flat());
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const n = p.buckets.length;
  const x = (i: number) => m.left + (n <= 1 ? pw / 2 : (i * pw) / (n - 1));
  const y = (v: number) => m.top + ph - (v / top) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${m.left}" y="28" font-size="16" font-weight="bold" fill="#222">${esc(opts.title)}</text>`,
  );
  for (let v = 0; v <= top; v += step) {
    out.push(
      `<line x1="${m.left}" x2="${m.left + pw}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e3e3e3"/>`,
      `<text x="${m.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#555">${compact(v)}</text>`,
    );
  }
  // About 12 labels at most, on the buckets themselves.
  const every = Math.max(1, Math.ceil(n / 12));
  for (let i = 0; i < n; i += every) {
    const label = p.buckets[i] ?? '';
    const [day = '', time = ''] = label.split(' ');
    out.push(
      `<line x1="${x(i).toFixed(1)}" x2="${x(i).toFixed(1)}" y1="${m.top + ph}" y2="${m.top + ph + 5}" stroke="#555"/>`,
      `<text x="${x(i).toFixed(1)}" y="${m.top + ph + 19}" text-anchor="middle" fill="#333">${esc(time || day)}</text>`,
    );
    if (time && (i === 0 || (p.buckets[i - every] ?? '').split(' ')[0] !== day)) {
      out.push(`<text x="${x(i).toFixed(1)}" y="${m.top + ph + 35}" text-anchor="middle" fill="#777">${esc(day)}</text>`);
    }
  }
  out.push(
    `<line x1="${m.left}" x2="${m.left + pw}" y1="${m.top + ph}" y2="${m.top + ph}" stroke="#555"/>`,
    `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" stroke="#555"/>`,
    `<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle" fill="#333">time (server wall clock)</text>`,
    `<text transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">queries per ${esc(opts.unit)}</text>`,
  );
  p.servers.forEach((s, si) => {
    const color = COLORS[si % COLORS.length] ?? '#000';
    const pts = p.buckets.map((_, i) => `${x(i).toFixed(1)},${y(p.counts[i]?.[si] ?? 0).toFixed(1)}`);
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round" points="${pts.join(' ')}"/>`);
    if (n <= 60) for (const pt of pts) {
      const [cx, cy] = pt.split(',');
      out.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${color}"/>`);
    }
    const ly = m.top + 10 + si * 20;
    out.push(
      `<line x1="${m.left + pw + 20}" x2="${m.left + pw + 44}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${m.left + pw + 50}" y="${ly + 4}" fill="#222">${esc(s)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export function htmlPage(title: string, svg: string): string {
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>\n<body style="font-family: sans-serif">\n${svg}</body></html>\n`;
}
