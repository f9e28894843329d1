import { h, svg } from './dom.ts';

/**
 * A layers × experts heatmap in plain SVG (one <rect> per cell; 24 × 60 is 1,440 rects, well within
 * what SVG handles). Each cell carries its data as attributes, so hover, tests and screen readers
 * read the same numbers the colour shows.
 */
export interface HeatmapCell {
  value: number;
  /** Raw selections (plain mode) for `data-count`; absent in the difference map. */
  count?: number;
  key?: boolean;
  readout: string;
}

export interface HeatmapOptions {
  /** 'share' colours 0..1 on one hue; 'diff' colours -1..1 on two. */
  scale: 'share' | 'diff';
  caption: string;
}

const CELL = 14;
const LEFT = 28;
const TOP = 14;

function colour(value: number, scale: HeatmapOptions['scale']): string {
  if (scale === 'share') return `hsl(212 75% ${Math.round(97 - 62 * Math.min(1, Math.max(0, value)))}%)`;
  const v = Math.min(1, Math.abs(value));
  return value >= 0 ? `hsl(24 85% ${Math.round(97 - 50 * v)}%)` : `hsl(200 80% ${Math.round(97 - 50 * v)}%)`;
}

export function heatmap(cells: HeatmapCell[][], opts: HeatmapOptions): HTMLElement {
  const numLayers = cells.length;
  const numExperts = cells[0]?.length ?? 0;
  const width = LEFT + numExperts * CELL;
  const height = TOP + numLayers * CELL;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'heatmap-svg', role: 'img', 'aria-label': opts.caption });
  // Few experts would otherwise blow cells up to the column width: at most 2.5× the drawn size.
  root.style.maxWidth = `${Math.round(width * 2.5)}px`;
  // Expert ids every few columns, layer ids on every row: enough to find a cell without crowding.
  const every = Math.max(1, Math.ceil(numExperts / 16));
  for (let e = 0; e < numExperts; e += every) {
    const t = svg('text', { x: LEFT + e * CELL + CELL / 2, y: TOP - 3, class: 'axis', 'text-anchor': 'middle' });
    t.textContent = String(e);
    root.append(t);
  }
  cells.forEach((row, layer) => {
    const t = svg('text', { x: LEFT - 4, y: TOP + layer * CELL + CELL * 0.72, class: 'axis', 'text-anchor': 'end' });
    t.textContent = String(layer);
    root.append(t);
    row.forEach((cell, expert) => {
      const rect = svg('rect', {
        x: LEFT + expert * CELL, y: TOP + layer * CELL, width: CELL - 1, height: CELL - 1, fill: colour(cell.value, opts.scale),
        'data-layer': layer, 'data-expert': expert, 'data-value': cell.value.toFixed(4), 'data-readout': cell.readout,
      });
      if (cell.count !== undefined) rect.setAttribute('data-count', String(cell.count));
      if (cell.key) rect.setAttribute('class', 'key');
      const title = svg('title');
      title.textContent = cell.readout;
      rect.append(title);
      root.append(rect);
    });
  });
  const readout = h('p', { class: 'readout', 'aria-live': 'polite' }, 'Hover a cell for its numbers.');
  // Pointer events cover mouse hover and a tap on a phone alike.
  root.addEventListener('pointerover', (event) => {
    const target = event.target as Element;
    if (target.hasAttribute('data-readout')) readout.textContent = target.getAttribute('data-readout');
  });
  return h('figure', { class: `heatmap ${opts.scale}` }, h('figcaption', {}, opts.caption), root, readout);
}
