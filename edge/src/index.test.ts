import { SELF } from 'cloudflare:test';
import { it, expect } from 'vitest';
it('health', async () => {
  const r = await SELF.fetch('http://edge.test/health');
  expect(await r.json()).toEqual({ ok: true });
});
