import { describe, expect, it } from 'vitest';
import { errorSlot } from '../../edge/playground/src/error-slot.ts';

// The page shows each API error beside the control it concerns; these are the params the edge and backend send.
describe('errorSlot', () => {
  it.each([
    [400, 'routing.tau', 'tau'],
    [400, 'routing.top_k', 'top_k'],
    [400, 'routing.key_experts.3[0]', 'key_experts'],
    [400, 'routing.key_experts.*', 'key_experts'],
    [403, 'routing.key_experts', 'key_experts'],
    [403, 'routing.strategy', 'strategy'],
    [400, 'routing.profile', 'profile'],
    [400, 'messages.0.content', 'messages'],
    [403, 'max_tokens', 'max_tokens'],
    [403, 'max_completion_tokens', 'max_tokens'],
    [403, 'model', 'key'],
    [401, null, 'key'],
    [429, null, 'key'],
    [400, null, 'general'],
    [400, 'routing', 'general'],
    [502, null, 'general'],
  ] as const)('%i %s -> %s', (status, param, slot) => {
    expect(errorSlot(status, param)).toBe(slot);
  });
});
