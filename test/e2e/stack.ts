import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStack, type Stack } from '../../gpu-backend/src/dev/stack.ts';
import { ensureDefaultModel } from '../../gpu-backend/src/dev/default-model.ts';
import { getTinyModel } from '../../gpu-backend/src/testing/tiny-model.ts';
import { signedFetch } from '../../gpu-backend/src/server/signed-client.ts';

/** The real stack as `npm start` runs it (tiny model unless asked for the default), in a throwaway state dir. */
export async function startTestStack(opts: { backendEnv?: Record<string, string>; model?: 'tiny' | 'brown' } = {}): Promise<Stack & { dispose(): Promise<void> }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'pickban-e2e-'));
  const modelDir = opts.model === 'brown' ? await ensureDefaultModel('brown', stateDir) : (await getTinyModel()).modelDir;
  const backendEnv = opts.backendEnv ?? {};
  const stack = await startStack({ stateDir, modelDir, backendEnv });
  return {
    ...stack,
    async dispose() {
      await stack.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** Reads one gauge or counter from the backend's signed /metrics. */
export async function backendMetric(stack: Stack, name: string): Promise<number> {
  const text = await (await signedFetch(stack.backendUrl, stack.backendSecret, '/metrics', undefined, { method: 'GET' })).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  if (!line) throw new Error(`metric ${name} not found`);
  return Number(line.split(' ').at(-1));
}
