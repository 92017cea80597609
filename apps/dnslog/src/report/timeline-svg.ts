/** The timeline chart rendered to SVG by Apache ECharts (server-side SVG renderer, no animation). */
import { LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TitleComponent } from 'echarts/components';
import { init, use } from 'echarts/core';
import { SVGRenderer } from 'echarts/renderers';
import { chartOption, type ChartOptions, type Pivot } from './timeline-chart.js';

use([LineChart, GridComponent, LegendComponent, TitleComponent, SVGRenderer]);

/** The chart as a standalone SVG document. */
export function svgChart(p: Pivot, opts: ChartOptions): string {
  const chart = init(null, null, { renderer: 'svg', ssr: true, width: opts.width ?? 1000, height: opts.height ?? 480 });
  try {
    chart.setOption(chartOption(p, opts));
    return `${chart.renderToSVGString()}\n`;
  } finally {
    chart.dispose();
  }
}
