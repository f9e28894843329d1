import type { RoutingStats } from '../../../shared/openai/responses.ts';
import type { HeatmapCell } from './heatmap.ts';

/** Selections per layer and expert over prompt and completion together, and the share of tokens that picked each. */
export function selectionGrid(stats: RoutingStats): { counts: number[][]; prompt: number[][]; completion: number[][]; tokens: number } {
  if (!stats.counts) throw new Error('routing stats carry no counts (stats "full" was not honoured)');
  const { prompt, completion } = stats.counts;
  const counts = prompt.map((row, l) => row.map((n, e) => n + (completion[l]?.[e] ?? 0)));
  return { counts, prompt, completion, tokens: stats.tokens.prompt + stats.tokens.completion };
}

export type TokenPart = 'all' | 'prompt' | 'completion';

/** Cells for one run; `part` restricts the counts and the token total to prompt or completion tokens. */
export function shareCells(stats: RoutingStats, keySets: Set<number>[], part: TokenPart = 'all'): HeatmapCell[][] {
  const grid = selectionGrid(stats);
  const counts = part === 'all' ? grid.counts : grid[part];
  const tokens = part === 'all' ? grid.tokens : stats.tokens[part];
  return counts.map((row, layer) =>
    row.map((count, expert) => {
      const key = keySets[layer]?.has(expert) ?? false;
      const share = tokens ? count / tokens : 0;
      return {
        value: share,
        count,
        key,
        readout: `layer ${layer} · expert ${expert}${key ? ' (key)' : ''}: ${count} of ${tokens} ${part === 'all' ? '' : `${part} `}tokens (${(100 * share).toFixed(0)}%) · prompt ${grid.prompt[layer][expert]}, completion ${grid.completion[layer]?.[expert] ?? 0}`,
      };
    }),
  );
}

/** A's share minus B's share per cell: positive where A selects the expert more often. */
export function diffCells(a: RoutingStats, b: RoutingStats): HeatmapCell[][] {
  const ga = selectionGrid(a);
  const gb = selectionGrid(b);
  return ga.counts.map((row, layer) =>
    row.map((countA, expert) => {
      const shareA = ga.tokens ? countA / ga.tokens : 0;
      const shareB = gb.tokens ? (gb.counts[layer]?.[expert] ?? 0) / gb.tokens : 0;
      const diff = shareA - shareB;
      return { value: diff, readout: `layer ${layer} · expert ${expert}: A ${(100 * shareA).toFixed(0)}% − B ${(100 * shareB).toFixed(0)}% = ${diff >= 0 ? '+' : ''}${(100 * diff).toFixed(0)} points` };
    }),
  );
}

export interface RunMetrics {
  tokensPerSecond: number;
  expertsPerToken: RoutingStats['experts_per_token'];
  completionTokens: number;
}

/** Tokens/s is end to end (request sent to [DONE], prefill included), as a client sees it. */
export function runMetrics(stats: RoutingStats, totalSeconds: number): RunMetrics {
  return {
    tokensPerSecond: totalSeconds > 0 ? stats.tokens.completion / totalSeconds : 0,
    expertsPerToken: stats.experts_per_token,
    completionTokens: stats.tokens.completion,
  };
}
