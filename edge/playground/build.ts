import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Bundles the playground into `<outDir>/playground/` (index.html, app.js, app.css), the folder the
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
  copyFileSync(join(HERE, 'src/index.html'), join(target, 'index.html'));
  copyFileSync(join(HERE, 'src/app.css'), join(target, 'app.css'));
  return target;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  console.log(`built ${await buildPlayground(process.argv[2])}`);
}
