import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startBackendProcess } from '../../bench/backend-process.ts';
import { getTinyModel } from '../testing/tiny-model.ts';

const MAIN = resolve(import.meta.dirname, '../main.ts');

describe('main.ts startup', () => {
  it('stops on a bad variable with exit code 2 and exactly one line naming it', () => {
    const env = { PATH: process.env.PATH, MODEL_DIR: '/models/none', BACKEND_SECRET: 'x'.repeat(32), PORT: 'http' };
    const res = spawnSync(process.execPath, ['--import', 'tsx', MAIN], { env, encoding: 'utf8', timeout: 30_000 });
    expect(res.status).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^Invalid configuration: PORT: .*\(got 'http'\)$/)]);
  });

  it('serves the tiny model, answers the probes, and exits 0 on SIGTERM after draining', async () => {
    const { modelDir } = await getTinyModel();
    const backend = await startBackendProcess({ MODEL_DIR: modelDir, EP: 'cpu', BACKEND_SECRET: 'y'.repeat(32) });
    expect(await (await fetch(`${backend.base}/health`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${backend.base}/ready`)).status).toBe(200);
    expect((await fetch(`${backend.base}/v1/models`)).status).toBe(401);
    expect(await backend.stop()).toBe(0);
    const messages = backend.lines.flatMap((l) => {
      try {
        return [(JSON.parse(l) as { msg: string }).msg];
      } catch {
        return []; // a dependency's plain console line
      }
    });
    expect(messages).toEqual(expect.arrayContaining(['listening', 'engine attached', 'shutting down', 'draining', 'stopped']));
  });
});
