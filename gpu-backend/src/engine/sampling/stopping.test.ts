import { describe, it, expect } from 'vitest';
import { StopStringMatcher } from './stop-strings.ts';
import { defaultStoppingCriteria } from './stopping.ts';

describe('StopStringMatcher', () => {
  it('never emits any part of a stop string split across tokens', () => {
    const m = new StopStringMatcher(['</end>']);
    const emitted: string[] = [];
    for (const piece of ['Hello <', '/e', 'nd', '> tail']) {
      const r = m.push(piece);
      emitted.push(r.emit);
      if (r.stopped) break;
    }
    expect(emitted.join('')).toBe('Hello ');
    expect(emitted).toEqual(['Hello ', '', '', '']);
    expect(m.stopped).toBe(true);
  });

  it('releases held-back text that turned out not to be a stop string', () => {
    const m = new StopStringMatcher(['STOP']);
    expect(m.push('a ST')).toEqual({ emit: 'a ', stopped: false });
    expect(m.push('ART')).toEqual({ emit: 'START', stopped: false });
    expect(m.push('x S')).toEqual({ emit: 'x ', stopped: false });
    expect(m.flush()).toBe('S');
  });

  it('stops at the earliest of several stop strings', () => {
    const m = new StopStringMatcher(['cd', 'b']);
    expect(m.push('abcd')).toEqual({ emit: 'a', stopped: true });
  });
});

describe('stopping criteria', () => {
  it('returns a reason per row: EOS and stop strings are stop, the limit is length', () => {
    const criteria = defaultStoppingCriteria([2]);
    const reasons = criteria.check([
      { outputTokenIds: [5, 2], maxTokens: 2, stopStringMatched: false },
      { outputTokenIds: [5, 6], maxTokens: 2, stopStringMatched: false },
      { outputTokenIds: [5], maxTokens: 9, stopStringMatched: true },
      { outputTokenIds: [5], maxTokens: 9, stopStringMatched: false },
    ]);
    expect(reasons).toEqual(['stop', 'length', 'stop', null]);
  });
});
