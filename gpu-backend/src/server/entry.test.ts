import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const MAIN = resolve(import.meta.dirname, '../main.ts');

describe('main.ts startup', () => {
  it('stops on a bad variable with exit code 2 and exactly one line naming it', () => {
    const env = { PATH: process.env.PATH, MODEL_DIR: '/models/none', BACKEND_SECRET: 'x'.repeat(32), PORT: 'http' };
    const res = spawnSync(process.execPath, ['--import', 'tsx', MAIN], { env, encoding: 'utf8', timeout: 30_000 });
    expect(res.status).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^Invalid configuration: PORT: .*\(got 'http'\)$/)]);
  });
});
