import { h, svg } from './dom.ts';

/** Per-layer average experts per token as paired horizontal bars: prompt above, completion below. */
export function perLayerBars(prompt: number[], completion: number[], maxValue: number): HTMLElement {
  const BAR = 7;
  const ROW = 2 * BAR + 5;
  const LEFT = 28;
  const WIDTH = 300;
  const scale = (v: number) => (WIDTH - LEFT - 40) * Math.min(1, v / Math.max(maxValue, 1e-9));
  const root = svg('svg', { viewBox: `0 0 ${WIDTH} ${prompt.length * ROW + 4}`, class: 'bars-svg', role: 'img', 'aria-label': 'average experts per token by layer' });
  root.style.maxWidth = `${WIDTH * 2}px`;
  prompt.forEach((p, layer) => {
    const c = completion[layer] ?? 0;
    const y = layer * ROW + 2;
    const label = svg('text', { x: LEFT - 4, y: y + BAR + 2, class: 'axis', 'text-anchor': 'end' });
    label.textContent = String(layer);
    root.append(label);
    for (const [i, value, kind] of [[0, p, 'prompt'], [1, c, 'completion']] as const) {
      const bar = svg('rect', { x: LEFT, y: y + i * BAR, width: scale(value), height: BAR - 1, class: kind, 'data-layer': layer, 'data-kind': kind, 'data-value': value.toFixed(3) });
      const title = svg('title');
      title.textContent = `layer ${layer} ${kind}: ${value.toFixed(2)} experts/token`;
      bar.append(title);
      const text = svg('text', { x: LEFT + scale(value) + 3, y: y + i * BAR + BAR - 1, class: 'value' });
      text.textContent = value.toFixed(2);
      root.append(bar, text);
    }
  });
  return h('figure', { class: 'bars' },
    h('figcaption', {}, 'Experts per token by layer ', h('span', { class: 'swatch prompt' }), ' prompt ', h('span', { class: 'swatch completion' }), ' completion'),
    root);
}
