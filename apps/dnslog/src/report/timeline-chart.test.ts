import { describe, expect, it } from 'vitest';
import { bar, chartOption, COLORS, htmlPage, pivot, terminalChart, timeSeries, type TimelinePoint } from './timeline-chart.js';
import { svgChart } from './timeline-svg.js';

const points = [
  { bucket: '2026-11-25 09:00', server: 'ns1', queries: 10 },
  { bucket: '2026-11-25 09:00', server: 'ns2', queries: 30 },
  { bucket: '2026-11-25 10:00', server: 'ns1', queries: 20 },
];

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(s: string, where: string): string {
  return s.replace(/&([^;&<\s]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(';')) throw new Error(`bare & in ${where}`);
    if (name.startsWith('#x')) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number(name.slice(1)));
    const v = ENTITIES[name];
    if (v === undefined) throw new Error(`unknown entity &${name}; in ${where}`);
    return v;
  });
}

/** A strict, small XML parser: nesting, quoting, entities, one root; throws on anything else. */
function parseXml(src: string): XmlElement {
  const token =
    /<!\[CDATA\[([\s\S]*?)\]\]>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<\/([A-Za-z_][\w:.-]*)\s*>|<([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>|([^<]+)|(<)/g;
  const root: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack = [root];
  for (const m of src.matchAll(token)) {
    const top = stack[stack.length - 1] as XmlElement;
    const [, cdata, close, open, attrs, selfClose, text, stray] = m;
    if (stray !== undefined) throw new Error(`stray < at ${m.index}`);
    if (cdata !== undefined) top.text += cdata;
    else if (close !== undefined) {
      if (top.name !== close) throw new Error(`</${close}> closes <${top.name}> at ${m.index}`);
      stack.pop();
    } else if (open !== undefined) {
      const el: XmlElement = { name: open, attrs: {}, children: [], text: '' };
      for (const a of (attrs ?? '').matchAll(/([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
        const name = a[1] as string;
        if (name in el.attrs) throw new Error(`duplicate attribute ${name} on <${open}>`);
        el.attrs[name] = decode(a[2] ?? a[3] ?? '', `<${open} ${name}>`);
      }
      top.children.push(el);
      if (selfClose !== '/') stack.push(el);
    } else if (text !== undefined) {
      if (top === root && text.trim() !== '') throw new Error('text outside the root element');
      top.text += decode(text, `<${top.name}>`);
    }
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1]?.name}> not closed`);
  if (root.children.length !== 1) throw new Error(`${root.children.length} root elements`);
  return root.children[0] as XmlElement;
}

function all(el: XmlElement, name: string): XmlElement[] {
  return [...(el.name === name ? [el] : []), ...el.children.flatMap((c) => all(c, name))];
}

/** The x and y an element is translated to (`translate(x y)` or `matrix(a,b,c,d,x,y)`). */
function position(el: XmlElement): [number, number] {
  const t = el.attrs.transform ?? '';
  const nums = (/\(([^)]*)\)/.exec(t)?.[1] ?? '').split(/[\s,]+/).map(Number);
  return t.startsWith('matrix') ? [nums[4] ?? NaN, nums[5] ?? NaN] : [nums[0] ?? NaN, nums[1] ?? NaN];
}

/** 30 hours of made-up traffic: a daily curve per server, one server silent for 3 hours. */
function thirtyHours(servers: readonly string[]): TimelinePoint[] {
  const out: TimelinePoint[] = [];
  const start = Date.UTC(2026, 10, 24, 9);
  for (let h = 0; h < 30; h++) {
    const iso = new Date(start + h * 3_600_000).toISOString();
    servers.forEach((server, i) => {
      if (i === 2 && h >= 12 && h < 15) return;
      const queries = Math.round((1200 / (i + 1)) * (1 + Math.sin(((h + 1) / 24) * 2 * Math.PI)) + 37 * ((h * 7 + i * 3) % 5));
      out.push({ bucket: `${iso.slice(0, 10)} ${iso.slice(11, 13)}:00`, server, queries });
    });
  }
  return out;
}

describe('timeline chart', () => {
  it('pivots per bucket and server, missing cells as 0', () => {
    expect(pivot(points)).toEqual({
      buckets: ['2026-11-25 09:00', '2026-11-25 10:00'],
      servers: ['ns1', 'ns2'],
      counts: [
        [10, 30],
        [20, 0],
      ],
    });
  });

  it('draws bars in eighths of a cell, scaled to the largest total', () => {
    expect(bar(40, 40, 4)).toBe('████');
    expect(bar(5, 40, 4)).toBe('▌');
    expect(bar(0, 40, 4)).toBe('');
    expect(terminalChart(pivot(points), 4).split('\n')).toEqual([
      'time              ns1  ns2  total',
      '----------------  ---  ---  -----',
      '2026-11-25 09:00   10   30     40  ████',
      '2026-11-25 10:00   20    0     20  ██',
      '',
    ]);
  });

  it('puts every bucket on the time axis, an hour without any query as 0', () => {
    const s = timeSeries(pivot([...points, { bucket: '2026-11-25 12:00', server: 'ns2', queries: 5 }]), 'hour');
    expect(s.times).toEqual([9, 10, 11, 12].map((h) => Date.UTC(2026, 10, 25, h)));
    expect(s.counts).toEqual([
      [10, 20, 0, 0],
      [30, 0, 0, 5],
    ]);
  });

  it('the test parser refuses XML that is not well-formed', () => {
    expect(() => parseXml('<svg><g></svg>')).toThrow('</svg> closes <g>');
    expect(() => parseXml('<svg><text>a & b</text></svg>')).toThrow('bare &');
    expect(() => parseXml('<svg x="1" x="2"/>')).toThrow('duplicate attribute');
    expect(() => parseXml('<svg><g>')).toThrow('not closed');
    expect(parseXml('<svg a="&lt;"><text>q &amp; a</text></svg>').children[0]?.text).toBe('q & a');
  });

  it('writes a well-formed SVG: one series per server, legend with totals, title with range and totals', () => {
    const data = [...points, { bucket: '2026-11-25 10:00', server: 'ns<3>', queries: 1 }];
    const svg = parseXml(svgChart(pivot(data), { per: 'hour', since: '2026-11-25 08:30:00.000' }));
    expect(svg.name).toBe('svg');
    expect(svg.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    const texts = all(svg, 'text').map((t) => t.text);
    expect(texts).toContain('DNS queries per hour, per server');
    expect(texts).toContain('2026-11-25 08:30 – 2026-11-25 11:00 (server wall clock) · 61 queries, 3 servers');
    expect(texts).toEqual(expect.arrayContaining(['ns1 (30)', 'ns2 (30)', 'ns<3> (1)']));
    const lines = all(svg, 'g')
      .filter((g) => g.attrs['clip-path'] !== undefined)
      .flatMap((g) => all(g, 'path'));
    expect(lines.map((l) => l.attrs.stroke)).toEqual(COLORS.slice(0, 3));
  });

  it('has no animation and no script in the SVG', () => {
    const svg = svgChart(pivot(thirtyHours(['ns1', 'ns2'])), { per: 'hour' });
    expect(all(parseXml(svg), 'script')).toEqual([]);
    expect(svg).not.toMatch(/<animate|@keyframes|animation/);
    expect(chartOption(pivot(points), { per: 'hour' }).animation).toBe(false);
  });

  it('labels the hours in range on the x axis, with the date under the first hour and each midnight', () => {
    const svg = parseXml(svgChart(pivot(thirtyHours(['ns1', 'ns2', 'ns3'])), { per: 'hour' }));
    const labels = all(svg, 'text').filter((t) => /^\d\d:\d\d$/.test(t.text));
    const byX = labels.map((t) => ({ x: position(t)[0], text: t.text })).sort((a, b) => a.x - b.x);
    // 2026-11-24 09:00 to 2026-11-25 14:00: the ticks are whole hours, evenly spaced, covering the range.
    expect(byX[0]?.text).toBe('09:00');
    expect(byX[byX.length - 1]?.text).toBe('14:00');
    expect(byX.length).toBeGreaterThanOrEqual(8);
    // Hours since 09:00 on the first day, walking the labels left to right (each gap under a day).
    const elapsed: number[] = [];
    for (const l of byX) {
      const h = Number(l.text.slice(0, 2));
      const prev = elapsed[elapsed.length - 1];
      elapsed.push(prev === undefined ? h - 9 : prev + ((h - ((prev + 9) % 24) + 24) % 24));
    }
    expect(elapsed[elapsed.length - 1]).toBe(29);
    expect(Math.max(...elapsed.slice(1).map((e, i) => e - (elapsed[i] ?? 0)))).toBeLessThanOrEqual(4);
    const pxPerHour = (byX[byX.length - 1]!.x - byX[0]!.x) / 29;
    byX.forEach((l, i) => expect(l.x - byX[0]!.x, l.text).toBeCloseTo((elapsed[i] ?? NaN) * pxPerHour, 2));
    const dates = all(svg, 'text').filter((t) => /^\d{4}-\d\d-\d\d$/.test(t.text));
    expect(dates.map((d) => [d.text, labels.find((l) => position(l)[0] === position(d)[0])?.text])).toEqual([
      ['2026-11-24', '09:00'],
      ['2026-11-25', '00:00'],
    ]);
  });

  it('plots the numbers of the timeline rows, at their hours', () => {
    const rows = thirtyHours(['ns1', 'ns2', 'ns3']);
    const svg = parseXml(svgChart(pivot(rows), { per: 'hour' }));
    // The value scale, read back from the y axis labels (end-anchored numbers).
    const ticks = all(svg, 'text')
      .filter((t) => t.attrs['text-anchor'] === 'end' && /^[\d,]+$/.test(t.text))
      .map((t) => ({ value: Number(t.text.replace(/,/g, '')), y: position(t)[1] }));
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    const [lo, hi] = [ticks[0]!, ticks[ticks.length - 1]!];
    const valueAt = (y: number) => lo.value + ((y - lo.y) * (hi.value - lo.value)) / (hi.y - lo.y);
    // The time scale, from the first and last hour labels (09:00 on the 24th, 14:00 on the 25th).
    const hourLabels = all(svg, 'text')
      .filter((t) => /^\d\d:\d\d$/.test(t.text))
      .map((t) => position(t)[0]);
    const [x0, x1] = [Math.min(...hourLabels), Math.max(...hourLabels)];
    const timeAt = (x: number) => Date.UTC(2026, 10, 24, 9) + ((x - x0) / (x1 - x0)) * 29 * 3_600_000;
    const plotted = new Map<string, number>();
    const servers = ['ns1', 'ns2', 'ns3'];
    for (const p of all(svg, 'path').filter((e) => e.attrs.ecmeta_ssr_type === 'chart')) {
      const [x, y] = position(p);
      const hour = new Date(Math.round(timeAt(x) / 3_600_000) * 3_600_000).toISOString();
      expect(Math.abs(timeAt(x) - Date.parse(hour))).toBeLessThan(60_000);
      const key = `${hour.slice(0, 10)} ${hour.slice(11, 16)}|${servers[Number(p.attrs.ecmeta_series_index)]}`;
      expect(plotted.has(key)).toBe(false);
      plotted.set(key, valueAt(y));
    }
    const expected = new Map(rows.map((r) => [`${r.bucket}|${r.server}`, r.queries]));
    for (let h = 12; h < 15; h++) expected.set(`2026-11-24 ${String(9 + h).padStart(2, '0')}:00|ns3`, 0);
    expect(plotted.size).toBe(90);
    expect([...plotted.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const [key, value] of plotted) expect(value, key).toBeCloseTo(expected.get(key) ?? NaN, 1);
    // The lines go through the same points (to the 0.1 px the path is written with).
    const lines = all(svg, 'g')
      .filter((g) => g.attrs['clip-path'] !== undefined)
      .flatMap((g) => all(g, 'path'));
    expect(lines).toHaveLength(3);
    for (const line of lines) expect((line.attrs.d ?? '').match(/[ML]/g)).toHaveLength(30);
  });

  it('wraps the SVG in an HTML page with an escaped title', () => {
    expect(htmlPage('q & a', '<svg/>\n')).toContain(
      '<title>q &amp; a</title></head>\n<body style="font-family: sans-serif">\n<svg/>\n</body></html>\n',
    );
  });
});
