import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestStack } from './stack.ts';

/**
 * Runs the README's curl and OpenAI-client examples, exactly as written there, against the stack
 * `npm start` runs (the default model), so the documentation cannot drift from the code.
 */
const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], code: m[2] }));

let stack: Awaited<ReturnType<typeof startTestStack>>;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  stack = await startTestStack({ model: 'brown' });
  env = { ...process.env, PICKBAN_URL: stack.edgeUrl, PICKBAN_API_KEY: stack.apiKey };
});
afterAll(async () => stack?.dispose());

it('the README quick start shows both commands', () => {
  expect(readme).toContain('npm install && npm start');
  expect(readme).toContain('npm install && npm test');
});

it('the README curl example streams a reply with routing statistics', async () => {
  const curl = blocks.find((b) => b.lang === 'sh' && b.code.includes('curl -N'));
  expect(curl).toBeDefined();
  const { stdout } = await run('bash', ['-c', curl!.code], { env, maxBuffer: 1 << 24 });
  const events = stdout.split('\n').filter((l) => l.startsWith('data: '));
  expect(events.at(-1)).toBe('data: [DONE]');
  const usage = JSON.parse(events.at(-2)!.slice(6)).usage;
  expect(usage.routing.strategy).toBe('pick_and_ban');
  // Key expert 3 in every layer and 7 in layer 2, for every prompt token.
  for (const [l, row] of (usage.routing.counts.prompt as number[][]).entries()) {
    expect(row[3]).toBe(usage.routing.tokens.prompt);
    if (l === 2) expect(row[7]).toBe(usage.routing.tokens.prompt);
  }
});

it('the README OpenAI-client example runs as written', async () => {
  const ts = blocks.find((b) => b.lang === 'ts' && b.code.includes("from 'openai'"));
  expect(ts).toBeDefined();
  const file = join(ROOT, `.readme-example-${process.pid}.mts`);
  writeFileSync(file, ts!.code);
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', file], { env, cwd: ROOT });
    expect(stdout).toMatch(/experts_per_token/);
    expect(stdout).toMatch(/strategy: 'ban'/);
  } finally {
    rmSync(file, { force: true });
  }
});
