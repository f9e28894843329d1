import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { buildPlayground, PLAYGROUND_STATIC } from '../../edge/playground/build.ts';

// The Worker serves the committed bundle; a source change without `npm run build:playground` fails here.
it('the committed playground bundle matches a fresh build of its source', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pickban-playground-'));
  try {
    const fresh = await buildPlayground(dir);
    const committed = join(PLAYGROUND_STATIC, 'playground');
    expect(readdirSync(committed).sort()).toEqual(readdirSync(fresh).sort());
    for (const file of readdirSync(fresh)) {
      expect(readFileSync(join(committed, file), 'utf8'), `${file} is stale: run npm run build:playground`).toBe(readFileSync(join(fresh, file), 'utf8'));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
