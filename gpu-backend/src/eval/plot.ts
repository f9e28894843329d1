import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One measured point of the quality-versus-experts plot. */
export interface PlotPoint {
  group: string;
  series: string;
  expertsPerToken: number;
  perplexity: number;
}

/**
 * Perplexity against experts per token, one line per strategy and one panel per genre group
 * (each with its own y range: the groups' perplexities differ far more than the strategies').
 * Vega-Lite renders headless to SVG; resvg turns it into a PNG (prebuilt binary, no native build).
 */
export async function renderQualityPlot(points: readonly PlotPoint[], title: string): Promise<Buffer> {
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    background: 'white',
    data: { values: points.map((p) => ({ ...p })) },
    facet: { column: { field: 'group', type: 'nominal', title: null, header: { labelFontSize: 13 }, sort: [...new Set(points.map((p) => p.group))] } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 260,
      height: 240,
      mark: { type: 'line', point: { size: 45 }, strokeWidth: 1.6 },
      encoding: {
        x: { field: 'expertsPerToken', type: 'quantitative', title: 'routed experts per token', scale: { zero: false } },
        y: { field: 'perplexity', type: 'quantitative', title: 'perplexity (held-out test)', scale: { zero: false } },
        color: { field: 'series', type: 'nominal', title: 'strategy', legend: { labelLimit: 260 } },
        order: { field: 'expertsPerToken', type: 'quantitative' },
      },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' }, fitTo: { mode: 'zoom', value: 1.5 } }).render().asPng();
}
