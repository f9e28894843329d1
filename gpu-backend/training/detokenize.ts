/**
 * Turns one Brown "form C" file (tagged tokens `word/tag`, one sentence per line, paragraphs separated by
 * blank lines) into plain English: paragraphs of sentences, with the POS tags stripped and the tokenised
 * punctuation glued back the way it is printed.
 */

/** `said/vbd` → `said`. The tag follows the LAST slash: a few words contain one (`1/2/cd`). */
export function stripTag(taggedToken: string): string {
  const slash = taggedToken.lastIndexOf('/');
  return slash > 0 ? taggedToken.slice(0, slash) : taggedToken;
}

const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '?', '!', ')', ']', "''"]);
const NO_SPACE_AFTER = new Set(['(', '[', '``']);

/**
 * Joins word tokens into a sentence. Brown writes double quotes as `` and '' (direction known) but single
 * quotes as a bare ' in both directions, so single quotes alternate open/close within the sentence.
 */
export function detokenize(tokens: readonly string[]): string {
  let out = '';
  let glueNext = true; // no space before the first token
  let singleQuoteOpen = false;
  for (const token of tokens) {
    let text = token;
    let glueBefore = NO_SPACE_BEFORE.has(token);
    let glueAfter = NO_SPACE_AFTER.has(token);
    if (token === '``' || token === "''") text = '"';
    if (token === "'") {
      glueBefore = singleQuoteOpen;
      glueAfter = !singleQuoteOpen;
      singleQuoteOpen = !singleQuoteOpen;
    }
    out += glueNext || glueBefore ? text : ` ${text}`;
    glueNext = glueAfter;
  }
  return out;
}

/** A whole file → paragraphs, each a list of sentences. */
export function parseBrownFile(content: string): string[][] {
  return content
    .split(/\n\s*\n/)
    .map((block) =>
      block
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line.length > 0)
        .map((line) => detokenize(line.split(/\s+/).map(stripTag))),
    )
    .filter((paragraph) => paragraph.length > 0);
}
