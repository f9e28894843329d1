import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, startChild, waitForHttp, type Child } from './processes.ts';

/**
 * Starts the whole system locally: the backend (CPU, the given or default model) and the edge under
 * real `wrangler dev`, with a local backend secret and a development API key in wrangler's local KV.
 * Used by `npm start` and by the end-to-end tests, so both run exactly the same stack.
 */
export interface StackOptions {
  /** Folder for secrets, KV state and models; reused across runs. */
  stateDir: string;
  modelDir: string;
  edgePort?: number;
  backendPort?: number;
  ep?: string;
  /** Extra backend environment (limits, for tests). */
  backendEnv?: Record<string, string>;
  echo?: boolean;
}

export interface Stack {
  edgeUrl: string;
  backendUrl: string;
  apiKey: string;
  backendSecret: string;
  stateDir: string;
  stop(): Promise<void>;
}

const ROOT = resolve(import.meta.dirname, '../../..');

function readOrCreate(path: string, make: () => string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  const value = make();
  writeFileSync(path, value + '\n', { mode: 0o600 });
  return value;
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const stateDir = resolve(opts.stateDir);
  mkdirSync(stateDir, { recursive: true });
  const backendSecret = readOrCreate(join(stateDir, 'backend-secret'), () => randomBytes(32).toString('base64url'));
  const persistTo = join(stateDir, 'wrangler-state');
  const apiKey = await ensureDevKey(stateDir, persistTo);

  const backendPort = opts.backendPort ?? (await freePort());
  const edgePort = opts.edgePort ?? (await freePort());
  const backendUrl = `http://127.0.0.1:${backendPort}`;
  const edgeUrl = `http://127.0.0.1:${edgePort}`;
  const children: Child[] = [];
  const stop = async () => {
    await Promise.all(children.reverse().map((c) => c.stop()));
  };

  const devVars = join(stateDir, 'edge.dev.vars');
  writeFileSync(devVars, `BACKEND_URLS=${backendUrl}\nBACKEND_SECRET=${backendSecret}\n`, { mode: 0o600 });

  try {
    const backend = startChild(
      'backend',
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'gpu-backend/src/main.ts')],
      { ...process.env, MODEL_DIR: opts.modelDir, EP: opts.ep ?? 'cpu', PORT: String(backendPort), HOST: '127.0.0.1', BACKEND_SECRET: backendSecret, ...opts.backendEnv },
      { echo: opts.echo },
    );
    children.push(backend);
    const edge = startChild(
      'edge',
      process.execPath,
      [
        join(ROOT, 'node_modules/wrangler/bin/wrangler.js'),
        'dev',
        '--config', join(ROOT, 'wrangler.toml'),
        '--ip', '127.0.0.1',
        '--port', String(edgePort),
        '--inspector-port', String(await freePort()),
        '--persist-to', persistTo,
        '--show-interactive-dev-session=false',
        // Secrets go through an env file, not argv, so they stay out of the process list.
        '--env-file', devVars,
      ],
      { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: 'true' },
      { echo: opts.echo },
    );
    children.push(edge);
    await waitForHttp(`${backendUrl}/ready`, backend, 300_000);
    await waitForHttp(`${edgeUrl}/health`, edge, 120_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { edgeUrl, backendUrl, apiKey, backendSecret, stateDir, stop };
}

/** One development key per state dir, created once in wrangler's local KV and reused. */
async function ensureDevKey(stateDir: string, persistTo: string): Promise<string> {
  const keyFile = join(stateDir, 'dev-api-key');
  if (existsSync(keyFile)) return readFileSync(keyFile, 'utf8').trim();
  const { createKey } = await import('../../../edge/scripts/keys/store.ts');
  // Generous rate for local work: the playground and the e2e suite fire many requests.
  const key = await createKey({ name: 'development', local: true, persistTo, rpm: 6000 });
  writeFileSync(keyFile, key + '\n', { mode: 0o600 });
  return key;
}
