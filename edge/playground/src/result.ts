import type { RoutingStats } from '../../../shared/openai/responses.ts';
import { perLayerBars } from './bars.ts';
import { h } from './dom.ts';
import { heatmap } from './heatmap.ts';
import { runMetrics, shareCells, type TokenPart } from './stats.ts';

/** One run's output: streamed text, speed and experts per token, heatmap and per-layer bars. */
export interface ResultView {
  element: HTMLElement;
  start(): void;
  append(text: string): void;
  finish(stats: RoutingStats | undefined, totalSeconds: number, keySets: Set<number>[], maxTopK: number): void;
  fail(message: string): void;
}

/** The heatmap with a picker for which tokens it counts: prompt and completion often route differently. */
function heatmapWithPart(name: string, render: (part: TokenPart) => HTMLElement): HTMLElement {
  const part = h('select', { 'aria-label': `tokens counted in heatmap ${name}`, 'data-part': name },
    h('option', { value: 'all' }, 'all tokens'), h('option', { value: 'prompt' }, 'prompt tokens'), h('option', { value: 'completion' }, 'completion tokens'));
  const box = h('div', {}, render('all'));
  part.addEventListener('change', () => box.replaceChildren(render(part.value as TokenPart)));
  return h('div', { class: 'heatmap-box' }, h('label', {}, 'Heatmap counts ', part), box);
}

export function resultView(name: string): ResultView {
  const output = h('pre', { class: 'output', 'data-output': name, 'aria-live': 'polite' });
  const status = h('p', { class: 'status', 'data-status': name });
  const metrics = h('dl', { class: 'metrics', 'data-metrics': name });
  const charts = h('div', { class: 'charts' });
  const element = h('article', { class: 'result', 'data-result': name }, h('h2', {}, `Output ${name}`), output, status, metrics, charts);
  return {
    element,
    start() {
      output.textContent = '';
      metrics.replaceChildren();
      charts.replaceChildren();
      status.textContent = 'streaming…';
      element.dataset.state = 'streaming';
    },
    append(text) {
      output.textContent += text;
    },
    finish(stats, totalSeconds, keySets, maxTopK) {
      element.dataset.state = 'done';
      status.textContent = `done in ${totalSeconds.toFixed(2)} s`;
      if (!stats) {
        status.textContent += ' (no routing stats in the reply)';
        return;
      }
      const m = runMetrics(stats, totalSeconds);
      const item = (term: string, value: string, key: string) => [h('dt', {}, term), h('dd', { 'data-metric': key }, value)];
      metrics.replaceChildren(
        ...item('strategy', `${stats.strategy}${stats.profile ? ` (${stats.profile})` : ''}, top_k ${stats.top_k}`, 'strategy'),
        ...item('tokens/s', `${m.tokensPerSecond.toFixed(1)} (${m.completionTokens} tokens)`, 'tokens-per-second'),
        ...item('experts/token', `prompt ${m.expertsPerToken.prompt.toFixed(2)} · completion ${m.expertsPerToken.completion.toFixed(2)} · overall ${m.expertsPerToken.overall.toFixed(2)}`, 'experts-per-token'),
      );
      if (stats.counts) charts.append(heatmapWithPart(name, (part) => heatmap(shareCells(stats, keySets, part), { scale: 'share', caption: `Share of ${part === 'all' ? '' : `${part} `}tokens selecting each expert (${name}); outlined: key experts` })));
      charts.append(perLayerBars(stats.per_layer.prompt, stats.per_layer.completion, maxTopK));
    },
    fail(message) {
      element.dataset.state = 'error';
      status.textContent = message;
    },
  };
}
