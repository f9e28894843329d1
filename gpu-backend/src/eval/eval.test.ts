import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../dev/default-model.ts';
import { parseEvalArgs, runEval, type EvalResult } from './cli.ts';

/** The routing evaluation on the trained default model and its shipped profiles, at a CI-sized setting. */

const stateDir = mkdtempSync(join(tmpdir(), 'pickban-eval-'));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));

const TEXTS = {
  fiction: 'She looked at him for a long time and then turned back to the window. The rain had stopped, and the street below was quiet. "I do not know what you want from me," he said. She did not answer.',
  press: 'The city council voted last night to approve the new budget, which includes funds for two schools and a bridge. The mayor said the vote was a victory for the taxpayers of the county.',
};
const K = 4;

let result: EvalResult;
beforeAll(async () => {
  const modelDir = await ensureDefaultModel('brown', stateDir);
  const data = join(stateDir, 'test.jsonl');
  const records = Object.entries(TEXTS).flatMap(([group, text]) => Array.from({ length: 4 }, () => JSON.stringify({ group, text })));
  writeFileSync(data, records.join('\n') + '\n');
  result = await runEval(parseEvalArgs(['--model', modelDir, '--data', data, '--genres', 'fiction,press', '--max-tokens', '128', '--window', '64',
    '--decode-steps', '4', '--decode-prompt', '8', '--rounds', '1', '--taus', '0.05,0.5,0.9', '--lambdas', '0,1', '--out', join(stateDir, 'out')]));
});

const rowsOf = (group: string, series: string) => result.rows.filter((r) => r.group === group && r.config.series === series);

describe('npm run eval:routing', () => {
  it('routes exactly K experts per token with top_k, fewer with ban at a small τ, growing with τ', () => {
    for (const group of ['fiction', 'press']) {
      expect(rowsOf(group, 'top_k')[0].expertsPerToken).toBe(K);
      const ban = rowsOf(group, 'ban (τ sweep)').map((r) => r.expertsPerToken);
      expect(ban).toHaveLength(3);
      expect(ban[0]).toBeLessThan(K);
      expect(ban[0]).toBeGreaterThanOrEqual(1);
      expect(ban[1]).toBeGreaterThanOrEqual(ban[0]);
      expect(ban[2]).toBeGreaterThanOrEqual(ban[1]);
    }
  });

  it('measures every strategy with the matching and a mismatched shipped profile, with finite perplexity and speed', () => {
    const series = new Set(result.rows.map((r) => r.config.series));
    for (const s of ['pick (matched)', 'pick (mismatched)', 'pick_and_ban (matched)', 'pick_and_ban (mismatched)', 'ban_and_pick (λ sweep)']) expect(series.has(s)).toBe(true);
    expect(rowsOf('fiction', 'pick (matched)')[0].config.setting).toMatch(/profile fiction/);
    expect(rowsOf('fiction', 'pick (mismatched)')[0].config.setting).not.toMatch(/profile fiction/);
    for (const r of result.rows) {
      expect(Number.isFinite(r.perplexity) && r.perplexity > 1 && r.perplexity < 8192).toBe(true);
      expect(Number.isFinite(r.decodeTokensPerSecond) && r.decodeTokensPerSecond > 0).toBe(true);
      expect(r.scoredTokens).toBe(2 * 63);
    }
    // pick with λ = 1 fills up to K; ban_and_pick at λ = 0 keeps K_min plus key experts in the top 2K.
    expect(rowsOf('press', 'pick (matched)')[0].expertsPerToken).toBe(K);
    const [lambda0, lambda1] = rowsOf('press', 'ban_and_pick (λ sweep)').map((r) => r.expertsPerToken);
    expect(lambda0).toBeGreaterThanOrEqual(1);
    expect(lambda0).toBeLessThanOrEqual(lambda1);
  });

  it('judges both targets per group and draws a PNG', () => {
    expect(result.verdicts.map((v) => v.group)).toEqual(['fiction', 'press']);
    const png = readFileSync(result.plotFile);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.length).toBeGreaterThan(10_000);
  });
});

describe('parseEvalArgs', () => {
  it('defaults to the three Brown groups and refuses thresholds outside [0, 1]', () => {
    expect(parseEvalArgs([]).genres).toEqual(['fiction', 'press', 'learned']);
    expect(() => parseEvalArgs(['--taus', '0.5,1.5'])).toThrow(/--taus/);
  });
});
