import type { EvalConfig } from './configs.ts';
import type { QualityResult } from './perplexity.ts';

/** One measured config of one genre group. */
export interface EvalRow extends QualityResult {
  group: string;
  config: EvalConfig;
  decodeTokensPerSecond: number;
}

const pct = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}%`;

export function resultTable(rows: readonly EvalRow[]): string[] {
  const lines = [
    '| group | strategy | setting | experts/token | perplexity | Δ ppl vs top_k | decode tokens/s |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const base = rows.find((b) => b.group === r.group && b.config.strategy === 'top_k')!;
    lines.push(`| ${r.group} | ${r.config.series} | ${r.config.setting} | ${r.expertsPerToken.toFixed(2)} | ${r.perplexity.toFixed(2)} | ${r === base ? '' : pct(r.perplexity / base.perplexity - 1)} | ${r.decodeTokensPerSecond.toFixed(0)} |`);
  }
  return lines;
}

export interface GroupVerdict {
  group: string;
  /** Ban (τ sweep) keeps perplexity within 1% of top_k at >= 20% fewer experts per token. */
  banReached: boolean;
  /** The matching profile's pick has a lower perplexity than top_k. */
  pickReached: boolean;
  text: string;
}

/** The issue's two targets, judged per group from the measured rows, with the numbers behind them. */
export function verdicts(rows: readonly EvalRow[], topK: number): GroupVerdict[] {
  const groups = [...new Set(rows.map((r) => r.group))];
  return groups.map((group) => {
    const g = rows.filter((r) => r.group === group);
    const base = g.find((r) => r.config.strategy === 'top_k')!;
    const rel = (r: EvalRow) => r.perplexity / base.perplexity - 1;
    const fewer = (r: EvalRow) => 1 - r.expertsPerToken / topK;
    const bans = g.filter((r) => r.config.strategy === 'ban');
    const banReached = bans.some((r) => fewer(r) >= 0.2 && rel(r) <= 0.01);
    const within = bans.filter((r) => rel(r) <= 0.01).sort((a, b) => a.expertsPerToken - b.expertsPerToken)[0];
    const at20 = bans.filter((r) => fewer(r) >= 0.2).sort((a, b) => b.expertsPerToken - a.expertsPerToken)[0];
    const parts = [
      within ? `ban within 1%: at most ${pct(-fewer(within))} experts (${within.config.setting}, ppl ${pct(rel(within))})` : 'no ban setting stays within 1%',
      at20 ? `at ≥20% fewer experts the best ban is ${at20.config.setting}: ${pct(-fewer(at20))} experts, ppl ${pct(rel(at20))}` : 'no ban setting reaches 20% fewer experts',
    ];
    const pick = g.find((r) => r.config.series === 'pick (matched)');
    const mis = g.find((r) => r.config.series === 'pick (mismatched)');
    const pickReached = pick !== undefined && pick.perplexity < base.perplexity;
    if (pick) parts.push(`matched pick ppl ${pct(rel(pick))}${mis ? `, mismatched pick ${pct(rel(mis))}` : ''}`);
    const gap = banAndPickGap(bans, g.filter((r) => r.config.strategy === 'ban_and_pick'));
    if (gap !== undefined) parts.push(`ban_and_pick against ban at the same experts/token: ${pct(gap)} ppl on average`);
    return { group, banReached, pickReached, text: `${group}: ${parts.join('; ')}.` };
  });
}

/**
 * Mean relative perplexity of ban_and_pick points over the ban curve, linearly interpolated at the
 * same experts/token (points outside the ban sweep's range are skipped).
 */
export function banAndPickGap(bans: readonly EvalRow[], banAndPick: readonly EvalRow[]): number | undefined {
  const curve = [...bans].sort((a, b) => a.expertsPerToken - b.expertsPerToken);
  const gaps: number[] = [];
  for (const p of banAndPick) {
    const i = curve.findIndex((c) => c.expertsPerToken >= p.expertsPerToken);
    if (i <= 0) continue;
    const [a, b] = [curve[i - 1], curve[i]];
    const t = (p.expertsPerToken - a.expertsPerToken) / (b.expertsPerToken - a.expertsPerToken);
    gaps.push(p.perplexity / (a.perplexity + t * (b.perplexity - a.perplexity)) - 1);
  }
  return gaps.length ? gaps.reduce((x, y) => x + y, 0) / gaps.length : undefined;
}
