import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { freePort, waitForHttp, type Child } from '../src/dev/processes.ts';
import { signedFetch } from '../src/server/signed-client.ts';
import { getTinyModel } from '../src/testing/tiny-model.ts';
import { packBackend } from './pack.ts';

const out = mkdtempSync(join(tmpdir(), 'pickban-pack-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it('the packed backend serves a model from outside the repository with its own node and packages', async () => {
  const { dir } = await packBackend({ out, archive: false });
  const { modelDir } = await getTinyModel();
  const port = await freePort();
  const secret = 'pack-test-secret-0123456789';
  // cwd outside the repo, so no node_modules of ours resolve: run.sh uses the bundle's own node and packages.
  const proc = spawn(join(dir, 'run.sh'), [], {
    cwd: out,
    env: { PATH: '/usr/bin:/bin', MODEL_DIR: modelDir, BACKEND_SECRET: secret, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stdout.on('data', (d) => (log += d));
  proc.stderr.on('data', (d) => (log += d));
  const child = { name: 'packed backend', proc, output: () => log } as unknown as Child;
  try {
    await waitForHttp(`http://127.0.0.1:${port}/ready`, child, 120_000);
    const res = await signedFetch(`http://127.0.0.1:${port}`, secret, '/v1/completions', { model: 'checkpoint', prompt: 'Hello', max_tokens: 4, temperature: 0 });
    const body = (await res.json()) as { choices: { text: string }[]; usage: { completion_tokens: number } };
    expect(res.status).toBe(200);
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
  } finally {
    proc.kill('SIGKILL');
  }
});
