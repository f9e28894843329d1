import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'pickban-once-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ROOT = resolve(import.meta.dirname, '../../..');

// Each racer writes two files with a pause between, so a half-built directory would be visible.
const racer = `
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildOnce } from ${JSON.stringify(join(import.meta.dirname, 'build-once.ts'))};
const final = process.env.BUILD_ONCE_TARGET;
buildOnce(final, (d) => existsSync(join(d, 'done')), (tmp) => {
  mkdirSync(tmp);
  writeFileSync(join(tmp, 'owner'), String(process.pid));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
  writeFileSync(join(tmp, 'done'), 'ok');
});
console.log(existsSync(join(final, 'done')) ? 'complete' : 'incomplete');
`;

function run(final: string): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', racer], { cwd: ROOT, env: { ...process.env, BUILD_ONCE_TARGET: final } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => res({ code, out }));
  });
}

describe('buildOnce', () => {
  it('lets concurrent processes race to one complete directory and leaves no temporaries', async () => {
    const final = join(dir, 'model');
    const results = await Promise.all([run(final), run(final), run(final)]);
    for (const r of results) expect(r).toEqual({ code: 0, out: 'complete\n' });
    expect(readdirSync(final).sort()).toEqual(['done', 'owner']);
    expect(readdirSync(dir)).toEqual(['model']);
    const owner = readFileSync(join(final, 'owner'), 'utf8');
    // A later call finds it complete and builds nothing.
    expect((await run(final)).out).toBe('complete\n');
    expect(readFileSync(join(final, 'owner'), 'utf8')).toBe(owner);
    expect(existsSync(join(final, 'done'))).toBe(true);
  });
});
