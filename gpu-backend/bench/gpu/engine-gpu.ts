/**
 * `npm run bench:gpu -- --model DIR [...]`, or inside the packed bundle on a GPU host:
 *   bin/node bench-gpu.mjs --model DIR [--ep webgpu|cpu] [--out results.json] [--streams 1,8,32,128,256]
 *     [--decode-tokens 64] [--prefill 512,2048] [--runs 3] [--runs-large N] [--strategies all|none]
 *     [--threads N] [--max-seconds S] [--max-kv-tokens N] [--batch-tokens N] [--prefill-chunk N]
 * The measurements of issue 6 in one process and one run, side by side: single-stream decode, aggregate
 * decode at each concurrency (with the per-stream rate and TTFT), prefill at each prompt length, every
 * routing strategy's decode rate and experts per token, load time, GPU memory (nvidia-smi) and peak RSS.
 * Writes the JSON after every section and prints markdown tables at the end.
 */
import { ArgsError, parseBenchArgs } from './args.ts';
import { formatTables } from './report.ts';
import { runBench } from './run.ts';

let options;
try {
  options = parseBenchArgs(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof ArgsError)) throw e;
  console.error(e.message);
  process.exit(2);
}
const results = await runBench(options);
console.log(`\n${formatTables(results)}\n\nResults: ${options.out}`);
// ORT's thread pools and the WebGPU device can keep the event loop alive after shutdown.
process.exit(results.status === 'failed' ? 1 : 0);
