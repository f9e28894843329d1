import { describe, expect, it } from 'vitest';
import { BROWN_GENRES, GENRE_GROUPS, genreGroupOf } from './brown-genres.ts';
import { detokenize, parseBrownFile, stripTag } from './detokenize.ts';
import { loadBrown, splitBrown } from './prepare-brown.ts';
import { splitIds } from './split.ts';

describe('Brown detokenizer', () => {
  it('strips the tag after the last slash only', () => {
    expect(stripTag('said/vbd')).toBe('said');
    expect(stripTag('1/2/cd')).toBe('1/2');
    expect(stripTag("Atlanta's/np$")).toBe("Atlanta's");
  });

  it('glues punctuation and turns `` and \'\' into directed double quotes', () => {
    const line = "He/pps said/vbd ,/, ``/`` no/at evidence/nn ''/'' (/( really/rb )/) ./.";
    expect(detokenize(line.split(' ').map(stripTag))).toBe('He said, "no evidence" (really).');
  });

  it('alternates bare single quotes between opening and closing', () => {
    expect(detokenize(['a', "'", 'pro', "'", 'and', "'", 'con', "'", '.'])).toBe("a 'pro' and 'con'.");
  });

  it('splits a file into paragraphs of sentences', () => {
    const file = '\n\n\tThe/at jury/nn said/vbd ./.\nIt/pps agreed/vbd ./.\n\n\n\tNext/ap one/cd ./.\n';
    expect(parseBrownFile(file)).toEqual([['The jury said.', 'It agreed.'], ['Next one.']]);
  });
});

describe('genre groups', () => {
  it('put every Brown genre in exactly one group', () => {
    const grouped = Object.values(GENRE_GROUPS).flat();
    expect([...grouped].sort()).toEqual([...BROWN_GENRES].sort());
    expect(genreGroupOf('science_fiction')).toBe('fiction');
    expect(genreGroupOf('reviews')).toBe('press');
  });
});

describe('split', () => {
  it('is deterministic, disjoint and holds out at least one document even in tiny genres', () => {
    const ids = ['cm01', 'cm02', 'cm03', 'cm04', 'cm05', 'cm06'];
    const first = splitIds(ids, { testFraction: 0.1, valFraction: 0.05 });
    expect(splitIds([...ids].reverse(), { testFraction: 0.1, valFraction: 0.05 })).toEqual(first);
    const counts = { train: 0, val: 0, test: 0 };
    for (const split of first.values()) counts[split]++;
    expect(counts).toEqual({ train: 4, val: 1, test: 1 });
  });

  it('covers the real corpus: 500 texts, every genre in train and test, ~10% test', () => {
    const docs = loadBrown();
    expect(docs).toHaveLength(500);
    const first = docs.find((d) => d.id === 'ca01')!;
    expect(first.paragraphs[0][0]).toBe(
      'The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.',
    );
    expect(docs.every((d) => !/\w\/(at|nn|vbd|in)\b/.test(d.text))).toBe(true);
    const splits = splitBrown(docs);
    const ids = Object.values(splits).flat().map((d) => d.id);
    expect(new Set(ids).size).toBe(500);
    for (const genre of BROWN_GENRES) {
      expect(splits.train.some((d) => d.genre === genre)).toBe(true);
      expect(splits.test.some((d) => d.genre === genre)).toBe(true);
    }
    expect(splits.test.length).toBeGreaterThanOrEqual(45);
    expect(splits.test.length).toBeLessThanOrEqual(60);
  });
});
