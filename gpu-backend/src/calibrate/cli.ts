import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { RoutingProfileSchema } from '../../../shared/routing/resolve.ts';
import { RoutingSchema } from '../../../shared/routing/schema.ts';
import { calibrateProfile } from './calibrate.ts';
import { openProbeModel } from './probe-model.ts';
import { readTexts, spreadWindows } from './text-data.ts';

/**
 * npm run calibrate -- --model <model-dir> --data <files...> --name <profile>
 *   [--key-experts N] [--candidates M] [--max-tokens T] [--window W] [--k-min K] [--where field=value]
 * Writes <model-dir>/profiles/<name>.json (RoutingProfileSchema). --max-tokens is spent on evenly
 * spaced windows of --window tokens across all the given text, so every text of a group is sampled.
 */

const USAGE = 'usage: npm run calibrate -- --model <model-dir> --data <files...> --name <profile> [--key-experts 2] [--candidates 6] [--max-tokens 4096] [--window 256] [--k-min 1] [--where group=fiction] [--threads N]';

export interface CalibrateCliArgs {
  model: string;
  data: string[];
  name: string;
  keyExperts: number;
  candidates: number;
  maxTokens: number;
  window: number;
  kMin: number;
  where: Record<string, string>;
  threads?: number;
}

export function parseCalibrateArgs(argv: string[]): CalibrateCliArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true, // `--data a.jsonl b.jsonl`: files after the first arrive as positionals
    options: {
      model: { type: 'string' }, data: { type: 'string', multiple: true }, name: { type: 'string' },
      'key-experts': { type: 'string' }, candidates: { type: 'string' }, 'max-tokens': { type: 'string' },
      window: { type: 'string' }, 'k-min': { type: 'string' }, where: { type: 'string', multiple: true }, threads: { type: 'string' },
    },
  });
  const data = [...(values.data ?? []), ...positionals];
  if (!values.model || !values.name || data.length === 0) throw new Error(USAGE);
  // The request schema's `routing.profile` rule: a name a request can refer to, and no path tricks.
  if (!RoutingSchema.shape.profile.safeParse(values.name).success) throw new Error(`--name ${values.name}: use letters, digits, "_", "." and "-" (at most 128)`);
  const int = (flag: string, v: string | undefined, fallback: number): number => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} ${v}: expected a positive integer`);
    return n;
  };
  const where: Record<string, string> = {};
  for (const w of values.where ?? []) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new Error(`--where ${w}: expected field=value`);
    where[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return {
    model: resolve(values.model), data, name: values.name, where,
    keyExperts: int('key-experts', values['key-experts'], 2),
    candidates: int('candidates', values.candidates, 6),
    maxTokens: int('max-tokens', values['max-tokens'], 4096),
    window: int('window', values.window, 256),
    kMin: int('k-min', values['k-min'], 1),
    threads: values.threads === undefined ? undefined : int('threads', values.threads, 1),
  };
}

/** Two-space JSON with arrays of numbers kept on one line, so a profile reads as a table. */
export function formatProfile(profile: unknown): string {
  return JSON.stringify(profile, null, 2).replace(/\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]/g, (_, body: string) => `[${body.split(/,\s*/).join(', ')}]`) + '\n';
}

/** Runs a calibration and writes the profile; returns its path. */
export async function runCalibrate(args: CalibrateCliArgs, log: (m: string) => void = () => {}): Promise<string> {
  const model = await openProbeModel(args.model, { threads: args.threads });
  const texts = readTexts(args.data, args.where);
  const separator = model.tokenizer.encode('<|endoftext|>');
  const windows = spreadWindows((t) => model.tokenizer.encode(t), texts, {
    window: args.window, maxTokens: args.maxTokens, separator: separator.length === 1 ? separator[0] : model.manifest.padTokenId,
  });
  const profile = await calibrateProfile(model, windows, {
    name: args.name, keyExperts: args.keyExperts, candidates: args.candidates, kMin: args.kMin, onProgress: log,
    source: { data: args.data.map((f) => f.split('/').slice(-3).join('/')), where: args.where, texts: texts.length, model: model.manifest.modelId },
  });
  await model.session.release();
  const checked = RoutingProfileSchema.parse(profile);
  const dir = join(args.model, model.manifest.profilesDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${args.name}.json`);
  writeFileSync(file, formatProfile(checked));
  return file;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const started = Date.now();
    const file = await runCalibrate(parseCalibrateArgs(process.argv.slice(2)), (m) => console.error(m));
    console.log(`wrote ${file} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
