import { cpus, loadavg } from 'node:os';
import type { Architecture } from '../model/contract.ts';
import type { EvalArgs } from './cli.ts';
import { resultTable, type EvalRow, type GroupVerdict } from './report.ts';

/** The BENCHMARKS.md section of `npm run eval:routing -- --write`: machine, command, table, plot, verdicts. */
export function benchmarksSection(o: { args: EvalArgs; rows: EvalRow[]; verdicts: GroupVerdict[]; arch: Architecture; seconds: number; plot: string }): string[] {
  const { args, arch } = o;
  const flags = [`--max-tokens ${args.maxTokens}`, `--genres ${args.genres.join(',')}`, `--window ${args.window}`, `--decode-steps ${args.decodeSteps}`, `--rounds ${args.rounds}`, '--write'];
  const yesNo = (b: boolean) => (b ? '**reached**' : '**not reached**');
  const banGroups = o.verdicts.filter((v) => v.banReached).map((v) => v.group);
  const pickGroups = o.verdicts.filter((v) => v.pickReached).map((v) => v.group);
  return [
    '## Routing quality (`npm run eval:routing`)',
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores, shared: load average ${loadavg()[0].toFixed(1)} at the end), Node ${process.version}, onnxruntime-node CPU, in ${o.seconds.toFixed(0)} s.`,
    `Command: \`npm run eval:routing -- ${flags.join(' ')}\`. Model: the default Brown-corpus Qwen2MoE (${arch.numLayers} layers, ${arch.numExperts} experts, top-${arch.numExpertsPerTok}, fp32 graph) with its shipped calibrated profiles (\`gpu-backend/default-model/profiles/\`, \`npm run calibrate\` on each group's train split).`,
    '',
    `- **Text:** each group's held-out test split (\`npm run data:brown\`), texts joined by \`<|endoftext|>\`, ${Math.floor(args.maxTokens / args.window)} evenly spaced windows of ${args.window} tokens; every position but a window's first is scored. Perplexity is token-level with the model's 8K tokenizer; windows and weights (fp32 here, bf16 there) differ from TRAINING.md's 512-token evaluation, so the numbers are not directly comparable with it.`,
    '- **Experts/token:** routed experts per token and layer, averaged over all positions (the shared expert is not counted).',
    `- **Settings:** ban τ ∈ {${args.sweep.taus.join(', ')}} with m = ${args.sweep.minExperts}; pick (λ = 1) and pick_and_ban (τ = ${args.sweep.pickAndBanTau}) with the group's own profile and with a mismatched one; ban_and_pick λ ∈ {${args.sweep.lambdas.join(', ')}} with the group's profile (K = ${arch.numExpertsPerTok}, K_min = ${args.sweep.minExperts}).`,
    `- **Where the compute is:** the routed experts are ${(routedShare(arch) * 100).toFixed(0)}% of this model's multiply-adds per token at K = ${arch.numExpertsPerTok} (attention, the shared expert and the ${arch.vocabSize}-token lm_head are the rest), and a step runs a few hundred small graph nodes, so Ban's decode speed-up is bounded well below its cut in experts here.`,
    `- **Decode tokens/s:** greedy, batch 1, ${args.decodeSteps} tokens after a ${args.decodePrompt}-token prompt, through the graph with its KV cache (no HTTP, no engine scheduler); median of ${args.rounds} round-robin rounds. The machine was shared with other jobs, so treat these as rough.`,
    '',
    `![Perplexity against experts per token](${o.plot})`,
    '',
    ...resultTable(o.rows),
    '',
    '**Targets of issue 7 on this model:**',
    `- Ban keeps perplexity within 1% at ≥ 20% fewer experts per token: ${yesNo(banGroups.length === o.verdicts.length)}${banGroups.length > 0 && banGroups.length < o.verdicts.length ? ` (only for ${banGroups.join(', ')})` : ''}.`,
    `- The matching Pick profile lowers perplexity on its genre against top_k: ${yesNo(pickGroups.length === o.verdicts.length)}${pickGroups.length > 0 && pickGroups.length < o.verdicts.length ? ` (only for ${pickGroups.join(', ')})` : ''}. ${pickRange(o.rows)}`,
    '',
    ...o.verdicts.map((v) => `- ${v.text}`),
  ];
}

/** Routed experts' share of the multiply-adds per token (attention projections, experts, lm_head). */
export function routedShare(arch: Architecture): number {
  const { hiddenSize: H, numHeads, numKvHeads, headDim: D, numLayers: L, numExpertsPerTok: K } = arch;
  const attention = H * numHeads * D * 2 + H * numKvHeads * D * 2;
  const routed = K * 3 * H * arch.moeIntermediateSize;
  const shared = 3 * H * arch.sharedExpertIntermediateSize;
  return (L * routed) / (L * (attention + routed + shared) + H * arch.vocabSize);
}

/** "pick against top_k: matched +a% to +b%, mismatched +c% to +d%" over all groups. */
function pickRange(rows: readonly EvalRow[]): string {
  const span = (series: string) => {
    const rel = rows.filter((r) => r.config.series === series).map((r) => {
      const base = rows.find((b) => b.group === r.group && b.config.strategy === 'top_k')!;
      return (r.perplexity / base.perplexity - 1) * 100;
    });
    const f = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(1)}%`;
    return rel.length ? `${f(Math.min(...rel))} to ${f(Math.max(...rel))}` : 'n/a';
  };
  return `Perplexity against top_k over the groups: pick with the matching profile ${span('pick (matched)')}, with a mismatched one ${span('pick (mismatched)')}; pick_and_ban matched ${span('pick_and_ban (matched)')}, mismatched ${span('pick_and_ban (mismatched)')}.`;
}
