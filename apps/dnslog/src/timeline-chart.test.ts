import { describe, expect, it } from 'vitest';
import { bar, niceStep, pivot, svgChart, terminalChart } from './timeline-chart.js';

const points = [
  { bucket: '2026-11-25 09:00', server: 'ns1', queries: 10 },
  { bucket: '2026-11-25 09:00', server: 'ns2', queries: 30 },
  { bucket: '2026-11-25 10:00', server: 'ns1', queries: 20 },
];

describe('timeline chart', () => {
  it('pivots per bucket and server, missing cells as 0', () => {
    expect(pivot(points)).toEqual({ buckets: ['2026-11-25 09:00', '2026-11-25 10:00'], servers: ['ns1', 'ns2'], counts: [[10, 30], [20, 0]] });
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

  it('writes an SVG with one line per server, a legend and escaped labels', () => {
    const svg = svgChart(pivot([...points, { bucket: '2026-11-25 10:00', server: 'ns<3>', queries: 1 }]), { title: 'q & a', unit: 'hour' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(3);
    expect(svg).toContain('>ns&lt;3&gt;</text>');
    expect(svg).toContain('>q &amp; a</text>');
    expect(svg).toContain('>09:00</text>');
    expect(niceStep(37)).toBe(10);
    expect(niceStep(1234)).toBe(500);
  });
});
