/**
 * Where an API error is shown: the control its `param` names (`routing.tau` → the τ knob,
 * `routing.key_experts.3[0]` → the key-expert editor), else the key field for 401/403/429, else the
 * panel's general line. Slots in a routing panel and on the page share these names.
 */
const PAGE_SLOTS: Record<string, string> = { messages: 'messages', max_tokens: 'max_tokens', max_completion_tokens: 'max_tokens', model: 'key' };

export function errorSlot(status: number, param: string | null): string {
  if (param?.startsWith('routing.')) return param.slice('routing.'.length).split(/[.[]/)[0];
  if (param === 'routing') return 'general';
  const head = param?.split(/[.[]/)[0];
  if (head && PAGE_SLOTS[head]) return PAGE_SLOTS[head];
  if (status === 401 || status === 403 || status === 429) return 'key';
  return 'general';
}
