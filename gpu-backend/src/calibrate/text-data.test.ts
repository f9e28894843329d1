import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readTexts, spreadWindows, tokenWindows } from './text-data.ts';

const dir = mkdtempSync(join(tmpdir(), 'pickban-text-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readTexts', () => {
  it('reads JSONL text fields with a field filter, and plain text files whole', () => {
    const jsonl = join(dir, 'a.jsonl');
    writeFileSync(jsonl, [{ group: 'press', text: 'one' }, { group: 'fiction', text: 'two' }, { group: 'press', text: 'three' }].map((r) => JSON.stringify(r)).join('\n') + '\n\n');
    const txt = join(dir, 'b.txt');
    writeFileSync(txt, 'plain\ntext');
    expect(readTexts([jsonl, txt])).toEqual(['one', 'two', 'three', 'plain\ntext']);
    expect(readTexts([jsonl], { group: 'press' })).toEqual(['one', 'three']);
    expect(() => readTexts([jsonl], { group: 'none' })).toThrow(/no texts/);
    expect(() => readTexts([txt], { group: 'press' })).toThrow(/JSONL/);
  });
});

describe('tokenWindows', () => {
  const encode = (t: string) => [...t].map((c) => c.charCodeAt(0));
  it('joins texts with the separator and cuts full windows up to maxTokens', () => {
    expect(tokenWindows(encode, ['abc', 'de'], { window: 4, maxTokens: 100, separator: 0 })).toEqual([[97, 98, 99, 0], [100, 101, 0]]);
    expect(tokenWindows(encode, ['abcdefgh'], { window: 3, maxTokens: 7, separator: 0 })).toEqual([[97, 98, 99], [100, 101, 102]]);
    // A trailing window of one token scores nothing and is dropped.
    expect(tokenWindows(encode, ['abcd'], { window: 4, maxTokens: 5, separator: 0 })).toEqual([[97, 98, 99, 100]]);
  });
});

describe('spreadWindows', () => {
  const encode = (t: string) => [...t].map((c) => c.charCodeAt(0) - 96);
  it('takes evenly spaced full windows across all texts', () => {
    // 'abcdefgh' 0 'ijklmnop' 0 = 18 tokens -> 9 windows of 2; a budget of 4 tokens takes windows 0 and 4.
    expect(spreadWindows(encode, ['abcdefgh', 'ijklmnop'], { window: 2, maxTokens: 4, separator: 0 })).toEqual([[1, 2], [0, 9]]);
    expect(spreadWindows(encode, ['abc'], { window: 2, maxTokens: 100, separator: 0 })).toEqual([[1, 2], [3, 0]]);
  });
});
