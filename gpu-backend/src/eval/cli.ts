import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RoutingProfileSchema, type RoutingProfile } from '../../../shared/routing/resolve.ts';
import { writeSection } from '../../bench/benchmarks-md.ts';
import { openProbeModel } from '../calibrate/probe-model.ts';
import { readTexts, spreadWindows } from '../calibrate/text-data.ts';
import { ensureDefaultModel } from '../dev/default-model.ts';
import { DEFAULT_SWEEP, evalConfigs, type SweepOptions } from './configs.ts';
import { decodeSpeeds } from './decode-speed.ts';
import { measureQuality } from './perplexity.ts';
import { renderQualityPlot } from './plot.ts';
import { verdicts, type EvalRow, type GroupVerdict } from './report.ts';
import { benchmarksSection } from './section.ts';

/**
 * npm run eval:routing [-- --max-tokens N --genres fiction,press,learned --model <dir> --data <jsonl>
 *   --window W --decode-steps D --rounds R --out <dir> --write]
 * Per genre group's held-out text: perplexity, experts per token and CPU decode tokens/s of every
 * routing setting (configs.ts), a PNG of perplexity against experts per token, and with --write the
 * BENCHMARKS.md section plus the committed PNG.
 */

const ROOT = resolve(import.meta.dirname, '../../..');
export const COMMITTED_PLOT = 'gpu-backend/src/eval/routing-quality.png';

export interface EvalArgs {
  model?: string;
  data: string;
  genres: string[];
  maxTokens: number;
  window: number;
  decodeSteps: number;
  decodePrompt: number;
  rounds: number;
  sweep: SweepOptions;
  out: string;
  write: boolean;
}

export function parseEvalArgs(argv: string[]): EvalArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' }, data: { type: 'string' }, genres: { type: 'string' }, 'max-tokens': { type: 'string' }, window: { type: 'string' },
      'decode-steps': { type: 'string' }, 'decode-prompt': { type: 'string' }, rounds: { type: 'string' }, taus: { type: 'string' }, lambdas: { type: 'string' },
      out: { type: 'string' }, write: { type: 'boolean' },
    },
  });
  const int = (flag: string, fallback: number): number => {
    const v = values[flag as keyof typeof values];
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} ${v}: expected a positive integer`);
    return n;
  };
  const units = (flag: 'taus' | 'lambdas', fallback: number[]): number[] => {
    if (values[flag] === undefined) return fallback;
    const xs = values[flag]!.split(',').map(Number);
    if (xs.some((x) => !(x >= 0 && x <= 1))) throw new Error(`--${flag} ${values[flag]}: expected comma-separated numbers in [0, 1]`);
    return xs;
  };
  return {
    model: values.model ? resolve(values.model) : undefined,
    data: resolve(values.data ?? join(ROOT, '.pickban/brown/test.jsonl')),
    genres: (values.genres ?? 'fiction,press,learned').split(',').filter(Boolean),
    maxTokens: int('max-tokens', 4096),
    window: int('window', 256),
    decodeSteps: int('decode-steps', 32),
    decodePrompt: int('decode-prompt', 32),
    rounds: int('rounds', 3),
    sweep: { ...DEFAULT_SWEEP, taus: units('taus', DEFAULT_SWEEP.taus), lambdas: units('lambdas', DEFAULT_SWEEP.lambdas) },
    out: resolve(values.out ?? join(ROOT, '.pickban/eval')),
    write: values.write ?? false,
  };
}

export interface EvalResult {
  modelDir: string;
  rows: EvalRow[];
  verdicts: GroupVerdict[];
  plotFile: string;
  seconds: number;
}

function loadProfiles(dir: string): Map<string, RoutingProfile> {
  const profiles = new Map<string, RoutingProfile>();
  if (!existsSync(dir)) return profiles;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    profiles.set(f.slice(0, -5), RoutingProfileSchema.parse(JSON.parse(readFileSync(join(dir, f), 'utf8'))));
  }
  return profiles;
}

export async function runEval(args: EvalArgs, log: (m: string) => void = () => {}): Promise<EvalResult> {
  const started = Date.now();
  if (!existsSync(args.data)) throw new Error(`${args.data}: missing (run npm run data:brown first)`);
  const modelDir = args.model ?? (await ensureDefaultModel('brown', process.env.PICKBAN_STATE_DIR ?? join(ROOT, '.pickban')));
  const model = await openProbeModel(modelDir);
  const profiles = loadProfiles(join(modelDir, model.manifest.profilesDir));
  const names = [...profiles.keys()];
  const separator = model.tokenizer.encode('<|endoftext|>')[0] ?? model.manifest.padTokenId;
  const rows: EvalRow[] = [];
  for (const group of args.genres) {
    const texts = readTexts([args.data], { group });
    const windows = spreadWindows((t) => model.tokenizer.encode(t), texts, { window: args.window, maxTokens: args.maxTokens, separator });
    if (windows.length === 0) throw new Error(`${group}: less than one window (${args.window} tokens) of text in ${args.data}`);
    const matched = profiles.get(group);
    // The mismatched profile: the next profile name after the matching one (cyclic, sorted).
    const mismatched = matched && names.length > 1 ? profiles.get(names[(names.indexOf(group) + 1) % names.length]) : undefined;
    const configs = evalConfigs(model.arch, args.sweep, matched, mismatched);
    const quality = await measureQuality(model, windows, configs);
    log(`${group}: quality of ${configs.length} settings over ${quality[0].scoredTokens} scored tokens`);
    const prompt = windows[0].slice(0, args.decodePrompt);
    const speeds = await decodeSpeeds(model, prompt, configs.map((c) => c.routing), args.decodeSteps, args.rounds);
    configs.forEach((config, i) => rows.push({ group, config, ...quality[i], decodeTokensPerSecond: speeds[i] }));
  }
  await model.session.release();

  const png = await renderQualityPlot(rows.map((r) => ({ group: r.group, series: r.config.series, expertsPerToken: r.expertsPerToken, perplexity: r.perplexity })),
    `Routing quality vs experts per token (${model.manifest.modelId}, ${model.arch.numLayers} layers, ${model.arch.numExperts} experts, top-${model.arch.numExpertsPerTok})`);
  mkdirSync(args.out, { recursive: true });
  const plotFile = join(args.out, 'routing-quality.png');
  writeFileSync(plotFile, png);
  const judged = verdicts(rows, model.arch.numExpertsPerTok);
  const seconds = (Date.now() - started) / 1000;
  writeFileSync(join(args.out, 'routing-quality.json'), JSON.stringify({ modelDir, args, seconds, rows, verdicts: judged }, null, 2) + '\n');
  if (args.write) {
    writeFileSync(join(ROOT, COMMITTED_PLOT), png);
    writeSection(join(ROOT, 'BENCHMARKS.md'), 'routing', benchmarksSection({ args, rows, verdicts: judged, arch: model.arch, seconds, plot: COMMITTED_PLOT }));
  }
  return { modelDir, rows, verdicts: judged, plotFile, seconds };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const result = await runEval(parseEvalArgs(process.argv.slice(2)), (m) => console.error(m));
    for (const r of result.rows) console.log(`${r.group}\t${r.config.series}\t${r.config.setting}\t${r.expertsPerToken.toFixed(2)}\t${r.perplexity.toFixed(2)}\t${r.decodeTokensPerSecond.toFixed(0)} tok/s`);
    for (const v of result.verdicts) console.log(v.text);
    console.log(`plot: ${result.plotFile} (${result.seconds.toFixed(0)} s)`);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
