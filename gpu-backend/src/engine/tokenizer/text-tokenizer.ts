import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import type { Manifest } from '../../model/contract.ts';
import type { ChatMessage } from '../types.ts';

/**
 * The model's tokenizer and chat template, loaded from the model directory's own files
 * (manifest.tokenizer, manifest.chatTemplate), so the text path is the one the checkpoint defines.
 */
export class TextTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    private readonly template: Template | null,
    /** Special-token strings a chat template may reference (bos_token, eos_token, ...). */
    private readonly templateVars: Record<string, unknown>,
  ) {}

  static async load(modelDir: string, manifest: Pick<Manifest, 'tokenizer' | 'chatTemplate'>): Promise<TextTokenizer> {
    const [tokenizerJson, tokenizerConfig] = await Promise.all(
      [manifest.tokenizer.file, manifest.tokenizer.configFile].map(async (file) => JSON.parse(await readFile(join(modelDir, file), 'utf8')) as Record<string, unknown>),
    );
    const template = manifest.chatTemplate ? new Template(manifest.chatTemplate) : null;
    const templateVars = Object.fromEntries(['bos_token', 'eos_token', 'pad_token', 'unk_token'].map((k) => [k, tokenSymbol(tokenizerConfig[k])]));
    return new TextTokenizer(new Tokenizer(tokenizerJson, tokenizerConfig), template, templateVars);
  }

  get hasChatTemplate(): boolean {
    return this.template !== null;
  }

  /** Special tokens in the text (<|im_start|> from the template) map to their ids. */
  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: true }).ids;
  }

  decode(ids: readonly number[]): string {
    if (ids.length === 0) return ''; // the library rejects an empty list
    return this.tokenizer.decode(ids as number[], { skip_special_tokens: true });
  }

  /** The chat prompt text, ending with the assistant turn's opening (add_generation_prompt). */
  renderChat(messages: readonly ChatMessage[]): string {
    if (!this.template) throw new Error('This model has no chat template; use /v1/completions with a prompt');
    return this.template.render({ ...this.templateVars, messages, add_generation_prompt: true });
  }
}

/** tokenizer_config.json writes a special token either as a string or as an AddedToken object. */
function tokenSymbol(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'content' in value) return String((value as { content: unknown }).content);
  return '';
}
