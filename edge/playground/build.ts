import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Bundles the playground's script into `<outDir>/playground/app.js`, beside the hand-written
 * index.html and app.css that live only in static/playground/. That folder is the one the
 * Worker serves as static assets (wrangler.toml [assets]). The bundle is committed so `wrangler dev`,
 * `wrangler deploy` and the workerd test pool find it without a build step; a test rebuilds it into
 * a temp dir and fails when the committed copy is stale. Run: `npm run build:playground`.
 */
const HERE = import.meta.dirname;
export const PLAYGROUND_STATIC = join(HERE, 'static');

export async function buildPlayground(outDir: string = PLAYGROUND_STATIC): Promise<string> {
  const target = join(resolve(outDir), 'playground');
  mkdirSync(target, { recursive: true });
  await build({
    entryPoints: [join(HERE, 'src/main.ts')],
    outfile: join(target, 'app.js'),
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    // Deterministic output: the committed bundle is compared byte for byte with a fresh build.
    legalComments: 'none',
    sourcemap: false,
    logLevel: 'warning',
  });
  // A build elsewhere (the staleness test) gets the page's other files too, so the folder is complete.
  const served = join(PLAYGROUND_STATIC, 'playground');
  if (resolve(target) !== resolve(served)) for (const f of ['index.html', 'app.css']) copyFileSync(join(served, f), join(target, f));
  return target;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  console.log(`built ${await buildPlayground(process.argv[2])}`);
}
