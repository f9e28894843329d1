import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';

const FILE = resolve(import.meta.dirname, '../../BENCHMARKS.md');
const START = '<!-- bench:edge:start -->';
const END = '<!-- bench:edge:end -->';

export interface Row {
  metric: string;
  direct: number;
  passthrough: number;
  edge: number;
  addedVsDirect: number;
  addedVsPassthrough: number;
  /** Lowest and highest per-run difference, to show how noisy the machine was. */
  addedVsDirectRange: [number, number];
  addedVsPassthroughRange: [number, number];
}

export interface EdgeReport {
  machine: string;
  workload: string;
  rows: Row[];
  verdict: string;
}

/** Replaces only the edge section of BENCHMARKS.md (other benchmarks own their own sections). */
export function writeSection(report: EdgeReport): void {
  const f = (n: number) => n.toFixed(2);
  const span = ([lo, hi]: [number, number]) => `${lo.toFixed(1)} to ${hi.toFixed(1)}`;
  const table = report.rows
    .map((r) => `| ${r.metric} | ${f(r.direct)} | ${f(r.passthrough)} | ${f(r.edge)} | ${f(r.addedVsDirect)} (${span(r.addedVsDirectRange)}) | ${f(r.addedVsPassthrough)} (${span(r.addedVsPassthroughRange)}) |`)
    .join('\n');
  const section = `${START}
## Edge gateway overhead (\`npm run bench:edge\`)

- Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(' / ')}
- Machine: ${report.machine}
- Command: \`npm run bench:edge\`
- Workload: ${report.workload}
- Paths: direct = signed request straight to the local SSE backend; pass-through = a bare Worker that only forwards, under the
  same \`wrangler dev\`; edge = the PickBan edge under \`wrangler dev\` (auth + KV, rate limit, validation, model bounds, signing, relay).
- Values: medians over runs of each run's percentile; "added" columns are medians of the per-run differences (in brackets: lowest to highest run).

| metric (ms) | direct | pass-through Worker | edge | edge - direct | edge - pass-through |
|---|---|---|---|---|---|
${table}

Result: ${report.verdict}.

Notes (ad-hoc A/B runs on the same machine, 3 x 30 requests, not re-measured by this command): with the
Rate Limiting binding removed the edge's p50 TTFB was within noise of the pass-through Worker; the binding,
simulated locally as an RPC to a separate worker, accounted for about 2-3 ms, and holding the response until
the first upstream byte (so a first-byte timeout can still answer 504) about 1-2 ms. A bare Worker under
\`wrangler dev\` already adds ~9-14 ms of TTFB over direct on this machine (also seen with bare Miniflare),
so the "vs direct" targets cannot be met through local \`wrangler dev\` here.
${END}`;
  const current = existsSync(FILE) ? readFileSync(FILE, 'utf8') : '# PickBan benchmarks\n';
  const at = current.indexOf(START);
  const next = at >= 0 ? current.slice(0, at) + section + current.slice(current.indexOf(END) + END.length) : `${current.trimEnd()}\n\n${section}\n`;
  writeFileSync(FILE, next);
}
