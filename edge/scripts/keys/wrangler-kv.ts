import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../..');
const WRANGLER = resolve(ROOT, 'node_modules/wrangler/bin/wrangler.js');

/**
 * Where key records live. Local is wrangler's own local KV (the store `wrangler dev` reads, same
 * --persist-to); remote is the deployed namespace bound as API_KEYS in wrangler.toml.
 */
export interface KvTarget {
  /** Deployed namespace instead of the local one. */
  remote?: boolean;
  /** Local persistence dir, as passed to `wrangler dev --persist-to` (wrangler's default: .wrangler/state). */
  persistTo?: string;
  /** wrangler config; defaults to the repository's wrangler.toml. */
  config?: string;
}

export const BINDING = 'API_KEYS';

/** Shells out to wrangler so local writes land exactly where `wrangler dev` looks. */
async function wranglerKv(target: KvTarget, args: string[]): Promise<string> {
  const where = target.remote ? ['--remote'] : ['--local', ...(target.persistTo ? ['--persist-to', resolve(target.persistTo)] : [])];
  try {
    const { stdout } = await run(process.execPath, [WRANGLER, 'kv', 'key', ...args, '--config', target.config ?? resolve(ROOT, 'wrangler.toml'), '--binding', BINDING, ...where], {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`wrangler kv key ${args[0]} failed: ${(e.stderr || e.message).trim().split('\n').slice(-5).join('\n')}`);
  }
}

export async function kvPut(target: KvTarget, name: string, value: string, metadata: unknown): Promise<void> {
  await wranglerKv(target, ['put', name, value, '--metadata', JSON.stringify(metadata)]);
}

export async function kvList(target: KvTarget, prefix: string): Promise<Array<{ name: string; metadata?: unknown }>> {
  const out = await wranglerKv(target, ['list', '--prefix', prefix]);
  // wrangler may print a banner before the JSON array.
  return JSON.parse(out.slice(out.indexOf('[')));
}
