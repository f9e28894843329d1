import { describe, expect, it } from 'vitest';
import type { RoutingStrategy } from '../../../shared/routing/schema.ts';
import { banAndPickGap, verdicts, type EvalRow } from './report.ts';

const row = (series: string, strategy: RoutingStrategy, expertsPerToken: number, perplexity: number, group = 'g'): EvalRow => ({
  group, expertsPerToken, perplexity, scoredTokens: 100, decodeTokensPerSecond: 1,
  config: { series, strategy, setting: '', routing: { strategy, topK: 4 } },
});

describe('routing evaluation verdicts', () => {
  const rows = [
    row('top_k', 'top_k', 4, 100),
    row('ban (τ sweep)', 'ban', 2, 110),
    row('ban (τ sweep)', 'ban', 3, 100.5), // 25% fewer experts, +0.5%: reached
    row('pick (matched)', 'pick', 4, 99),
    row('ban_and_pick (λ sweep)', 'ban_and_pick', 2.5, 106.5), // ban curve at 2.5 is 105.25
  ];

  it('reaches the Ban target only with >= 20% fewer experts within 1%, and the Pick target only below top_k', () => {
    expect(verdicts(rows, 4)[0]).toMatchObject({ banReached: true, pickReached: true });
    const worse = rows.map((r) => (r.config.strategy === 'ban' && r.expertsPerToken === 3 ? row('ban (τ sweep)', 'ban', 3.3, 100.5) : r.config.strategy === 'pick' ? row('pick (matched)', 'pick', 4, 100.1) : r));
    expect(verdicts(worse, 4)[0]).toMatchObject({ banReached: false, pickReached: false });
  });

  it('compares ban_and_pick with the ban curve interpolated at the same experts/token', () => {
    const bans = rows.filter((r) => r.config.strategy === 'ban');
    expect(banAndPickGap(bans, [rows[4]])).toBeCloseTo(106.5 / 105.25 - 1, 12);
    // Outside the sweep's range there is nothing to compare with.
    expect(banAndPickGap(bans, [row('ban_and_pick (λ sweep)', 'ban_and_pick', 1.5, 120)])).toBeUndefined();
  });
});
