import { readFileSync } from 'node:fs';

/**
 * Calibration and evaluation text: JSONL files (one object per line with a `text` field, e.g.
 * .pickban/brown/*.jsonl) or plain text files (the whole file is one text). `where` keeps only
 * JSONL records whose fields equal the given values, e.g. { group: 'fiction' } on the Brown splits.
 */
export function readTexts(files: readonly string[], where: Record<string, string> = {}): string[] {
  const texts: string[] = [];
  for (const file of files) {
    const content = readFileSync(file, 'utf8');
    if (!/\.jsonl$/i.test(file)) {
      if (Object.keys(where).length > 0) throw new Error(`${file}: a field filter needs JSONL input`);
      texts.push(content);
      continue;
    }
    content.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      const record = JSON.parse(line) as Record<string, unknown>;
      if (typeof record.text !== 'string') throw new Error(`${file}:${i + 1}: no string field "text"`);
      if (Object.entries(where).every(([k, v]) => String(record[k]) === v)) texts.push(record.text);
    });
  }
  if (texts.length === 0) throw new Error(`no texts in ${files.join(', ')}${Object.keys(where).length ? ` matching ${JSON.stringify(where)}` : ''}`);
  return texts;
}

/**
 * The whole text cut into windows, then floor(maxTokens / window) of them taken evenly spaced, so
 * a budget of a few thousand tokens samples every text of a genre group rather than the first one.
 * Returns every full window when there are fewer than that.
 */
export function spreadWindows(encode: (text: string) => number[], texts: readonly string[], opts: { window: number; maxTokens: number; separator: number }): number[][] {
  const all = tokenWindows(encode, texts, { ...opts, maxTokens: Infinity }).filter((w) => w.length === opts.window);
  const n = Math.max(1, Math.floor(opts.maxTokens / opts.window));
  if (all.length <= n) return all;
  return Array.from({ length: n }, (_, i) => all[Math.floor((i * all.length) / n)]);
}

/**
 * Texts joined by the end-of-text token (as the model was trained), cut into non-overlapping
 * windows of `window` tokens until `maxTokens` tokens are taken. The last window may be shorter
 * (but has at least 2 tokens, so it scores something).
 */
export function tokenWindows(encode: (text: string) => number[], texts: readonly string[], opts: { window: number; maxTokens: number; separator: number }): number[][] {
  const windows: number[][] = [];
  let current: number[] = [];
  let taken = 0;
  const push = (id: number): boolean => {
    current.push(id);
    taken++;
    if (current.length === opts.window) {
      windows.push(current);
      current = [];
    }
    return taken < opts.maxTokens;
  };
  outer: for (const text of texts) {
    for (const id of encode(text)) if (!push(id)) break outer;
    if (!push(opts.separator)) break;
  }
  if (current.length >= 2) windows.push(current);
  return windows;
}
