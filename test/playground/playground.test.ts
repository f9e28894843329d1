import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from '../../edge/scripts/keys/store.ts';
import { startTestStack } from '../e2e/stack.ts';
import { launchChromium } from './browser.ts';

/**
 * The playground in Debian's chromium against the real stack (`npm start`'s startStack, tiny model).
 * Each test drives the page as a person would and reads back what the page shows.
 */
let stack: Awaited<ReturnType<typeof startTestStack>>;
let browser: Awaited<ReturnType<typeof launchChromium>>;
let page: Page;

// The committed README screenshot is rewritten only on request, so a test run leaves the tree clean.
const SCREENSHOT = process.env.PLAYGROUND_SCREENSHOT === '1'
  ? resolve(import.meta.dirname, '../../edge/playground/screenshot.png')
  : join(mkdtempSync(join(tmpdir(), 'pickban-shot-')), 'screenshot.png');

beforeAll(async () => {
  browser = await launchChromium();
  stack = await startTestStack();
});

afterAll(async () => {
  await browser?.close();
  await stack?.dispose();
});

async function openPlayground(key = stack.apiKey): Promise<Page> {
  page = await browser.context.newPage();
  await page.goto(`${stack.edgeUrl}/playground`);
  await page.fill('#api-key', key);
  await page.click('#connect');
  return page;
}

async function runAndWait(p: Page, results: string[] = ['A']) {
  await p.click('#run');
  for (const name of results) await p.waitForSelector(`[data-result="${name}"][data-state="done"], [data-result="${name}"][data-state="error"]`);
}

/** Every heatmap cell of result `name`: layer, expert, count, share and whether it is marked as a key expert. */
const cells = (p: Page, scope: string) =>
  p.$$eval(`${scope} .heatmap rect[data-layer]`, (rects) =>
    rects.map((r) => ({
      layer: Number(r.getAttribute('data-layer')),
      expert: Number(r.getAttribute('data-expert')),
      count: r.hasAttribute('data-count') ? Number(r.getAttribute('data-count')) : undefined,
      value: Number(r.getAttribute('data-value')),
      key: r.classList.contains('key'),
    })),
  );

describe('routing playground', () => {
  it('streams a reply, sending exactly the request JSON it shows', async () => {
    const p = await openPlayground();
    await p.waitForSelector('[data-panel="A"]');
    // Record every text the output shows while streaming: a streamed reply arrives in several pieces.
    await p.evaluate(() => {
      const out = document.querySelector('[data-output="A"]')!;
      const seen: string[] = ((window as unknown as { seen: string[] }).seen = []);
      new MutationObserver(() => seen.push(out.textContent ?? '')).observe(out, { childList: true, characterData: true, subtree: true });
    });
    const sent = p.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
    await runAndWait(p);
    const shown = await p.textContent('[data-request="A"]');
    expect((await sent).postData()).toBe(shown);
    expect(JSON.parse(shown!)).toMatchObject({ stream: true, routing: { stats: 'full' } });

    const output = (await p.textContent('[data-output="A"]'))!;
    const seen = await p.evaluate(() => (window as unknown as { seen: string[] }).seen.filter(Boolean));
    expect(output.length).toBeGreaterThan(0);
    expect(new Set(seen).size).toBeGreaterThan(1);
    expect(seen.at(-1)).toBe(output);
    expect(await p.textContent('[data-result="A"] [data-metric="tokens-per-second"]')).toMatch(/^\d+\.\d/);
    // The key stays in this tab's sessionStorage and nowhere else the page can write.
    expect(await p.evaluate(() => [sessionStorage.getItem('pickban.apiKey'), localStorage.length])).toEqual([stack.apiKey, 0]);
  });

  it('marks pick key experts in the heatmap, selected by every token in every layer', async () => {
    const p = await openPlayground();
    await p.selectOption('[data-panel="A"] [data-control="strategy"]', 'pick');
    await p.fill('[data-panel="A"] [data-ke="ids"]', '2, 7');
    await runAndWait(p);
    const grid = await cells(p, '[data-result="A"]');
    const layers = new Set(grid.map((c) => c.layer));
    expect(layers.size).toBeGreaterThan(1);
    for (const layer of layers) {
      const row = grid.filter((c) => c.layer === layer);
      const keyCells = row.filter((c) => c.key);
      expect(keyCells.map((c) => c.expert).sort((a, b) => a - b)).toEqual([2, 7]);
      const tokens = Math.max(...row.map((c) => c.count!));
      for (const c of keyCells) {
        expect(c.count).toBe(tokens);
        expect(c.value).toBe(1);
      }
    }
    // The hover readout names the cell under the pointer.
    await p.hover('[data-result="A"] rect[data-layer="1"][data-expert="7"]');
    expect(await p.textContent('[data-result="A"] .readout')).toMatch(/^layer 1 · expert 7 \(key\)/);
    expect(await p.$$('[data-result="A"] .bars rect.completion')).toHaveLength(layers.size);
    await p.screenshot({ path: SCREENSHOT, fullPage: true });

    // Counting prompt and completion tokens apart splits every cell, and key experts stay at 100% in each.
    await p.selectOption('[data-part="A"]', 'prompt');
    const prompt = await cells(p, '[data-result="A"]');
    await p.selectOption('[data-part="A"]', 'completion');
    const completion = await cells(p, '[data-result="A"]');
    grid.forEach((c, i) => expect(c.count).toBe(prompt[i].count! + completion[i].count!));
    for (const part of [prompt, completion]) expect(part.filter((c) => c.key).every((c) => c.value === 1)).toBe(true);
  });

  it('shows the API’s 400 for an out-of-range τ beside the τ control', async () => {
    const p = await openPlayground();
    await p.fill('[data-panel="A"] [data-knob="tau"]', '1.5');
    await runAndWait(p);
    const body = (await p.textContent('[data-request="A"]'))!;
    const direct = await fetch(`${stack.edgeUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
      body,
    });
    const { error } = (await direct.json()) as { error: { message: string; param: string } };
    expect([direct.status, error.param]).toEqual([400, 'routing.tau']);
    expect(await p.textContent('[data-panel="A"] [data-error="tau"]')).toBe(`400: ${error.message}`);
  });

  it('shows a 401 beside the key field', async () => {
    const p = await openPlayground('pb_not-a-real-key');
    await p.waitForSelector('header [data-error="key"]:not(:empty)');
    expect(await p.textContent('header [data-error="key"]')).toMatch(/^401: /);
  });

  it('shows a 403 beside the control it refuses', async () => {
    const key = await createKey({ name: 'topk-only', local: true, persistTo: `${stack.stateDir}/wrangler-state`, routing: { raw_key_experts: false, strategies: ['top_k'] } });
    const p = await openPlayground(key);
    await p.selectOption('[data-panel="A"] [data-control="strategy"]', 'ban');
    await runAndWait(p);
    expect(await p.textContent('[data-panel="A"] [data-error="strategy"]')).toMatch(/^403: .*'ban'/);
  });

  it('shows a 429 beside the key field once the key passes its rate', async () => {
    const key = await createKey({ name: 'slow', local: true, persistTo: `${stack.stateDir}/wrangler-state`, rpm: 1 });
    const p = await openPlayground(key);
    const keyError = () => p.textContent('header [data-error="key"]');
    for (let i = 0; i < 30 && !(await keyError()); i++) {
      await Promise.all([p.waitForResponse((r) => r.url().endsWith('/v1/models')), p.click('#connect')]);
    }
    expect(await keyError()).toMatch(/^429: /);
  });

  it('compares two settings: both outputs, both heatmaps, their difference, speed and experts per token', async () => {
    const p = await openPlayground();
    await p.check('#compare');
    await p.selectOption('[data-panel="B"] [data-control="strategy"]', 'pick');
    await p.fill('[data-panel="B"] [data-ke="ids"]', '0');
    await p.fill('[data-panel="B"] [data-knob="lambda"]', '0');
    await runAndWait(p, ['A', 'B']);
    await p.waitForSelector('#diff:not([hidden]) .heatmap');
    for (const name of ['A', 'B']) {
      expect((await p.textContent(`[data-output="${name}"]`))!.length).toBeGreaterThan(0);
      expect(await p.textContent(`[data-result="${name}"] [data-metric="experts-per-token"]`)).toMatch(/overall \d/);
    }
    const [a, b, diff] = await Promise.all([cells(p, '[data-result="A"]'), cells(p, '[data-result="B"]'), cells(p, '#diff')]);
    expect(diff).toHaveLength(a.length);
    diff.forEach((d, i) => expect(d.value).toBeCloseTo(a[i].value - b[i].value, 3));
    // B (pick, one key expert, λ = 0) selects exactly its key expert: one expert per token in every layer.
    expect(b.filter((c) => c.count! > 0).every((c) => c.expert === 0)).toBe(true);
    const table = await p.$$eval('[data-compare] tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
    expect(table.find((r) => r[0] === 'experts/token (completion)')?.[2]).toBe('1.00');
    expect(Number(table.find((r) => r[0] === 'tokens/s')?.[1])).toBeGreaterThan(0);
  });

  it('copies the request as curl and as OpenAI-client code, and both run as copied', async () => {
    const p = await openPlayground();
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.edgeUrl });
    await p.selectOption('[data-panel="A"] [data-control="strategy"]', 'ban');
    await p.fill('[data-panel="A"] [data-knob="tau"]', '0.5');
    await p.fill('#max-tokens', '8');
    const copied = async (format: string) => {
      await p.selectOption('[data-panel="A"] [data-format]', format);
      await p.click('[data-panel="A"] [data-copy]');
      await p.waitForSelector('[data-panel="A"] [data-copy]:text("Copied")');
      const text = await p.evaluate(() => navigator.clipboard.readText());
      expect(text).toBe(await p.textContent('[data-request="A"]'));
      expect(text).not.toContain(stack.apiKey);
      return text;
    };
    const env = { ...process.env, PICKBAN_API_KEY: stack.apiKey };
    const curlOut = execFileSync('bash', ['-c', await copied('curl')], { env, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
    expect(curlOut).toContain('data: [DONE]');
    expect(curlOut).toMatch(/"routing":\{"strategy":"ban"/);

    // Written inside the repository so `import 'openai'` resolves from its node_modules.
    const dir = resolve(import.meta.dirname, '../../.pickban/playground-snippets');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `openai-${process.pid}.mjs`);
    writeFileSync(file, await copied('openai'));
    try {
      const out = execFileSync(process.execPath, [file], { env, encoding: 'utf8', timeout: 60_000 });
      expect(out.length).toBeGreaterThan(0);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('fits a phone-width screen without sideways scrolling', async () => {
    const p = await openPlayground();
    await p.setViewportSize({ width: 390, height: 844 });
    await runAndWait(p);
    expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  });
});
