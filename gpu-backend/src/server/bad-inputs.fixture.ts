/**
 * Bad request bodies and the `param` each 400 must name. Chosen to be wrong for any model (expert
 * 9999, layer 999, top_k 999), so the same table runs against the pure mapping and the real app.
 */
export interface BadInput {
  name: string;
  endpoint: 'chat' | 'completion';
  /** Merged over a valid body for the endpoint; `undefined` values delete the field. */
  patch: Record<string, unknown>;
  param: string | null;
  /** Checked against the model only after the strategy; a model without it answers 'routing.strategy'. */
  needsStrategy?: string;
}

export const validChat = (model: string) => ({ model, messages: [{ role: 'user', content: 'Hello' }] });
export const validCompletion = (model: string) => ({ model, prompt: 'Once upon a time' });

export function badBody(input: BadInput, model: string): Record<string, unknown> {
  const body: Record<string, unknown> = { ...(input.endpoint === 'chat' ? validChat(model) : validCompletion(model)), ...input.patch };
  for (const [k, v] of Object.entries(input.patch)) if (v === undefined) delete body[k];
  return body;
}

export const BAD_INPUTS: BadInput[] = [
  { name: 'n > 1', endpoint: 'chat', patch: { n: 2 }, param: 'n' },
  { name: 'no messages', endpoint: 'chat', patch: { messages: undefined }, param: 'messages' },
  { name: 'empty messages', endpoint: 'chat', patch: { messages: [] }, param: 'messages' },
  { name: 'unknown role', endpoint: 'chat', patch: { messages: [{ role: 'wizard', content: 'hi' }] }, param: 'messages[0].role' },
  { name: 'no model', endpoint: 'chat', patch: { model: undefined }, param: 'model' },
  { name: 'temperature > 2', endpoint: 'chat', patch: { temperature: 2.5 }, param: 'temperature' },
  { name: 'top_p 0', endpoint: 'chat', patch: { top_p: 0 }, param: 'top_p' },
  { name: 'seed not an integer', endpoint: 'chat', patch: { seed: 1.5 }, param: 'seed' },
  { name: 'stream not a boolean', endpoint: 'chat', patch: { stream: 'yes' }, param: 'stream' },
  { name: 'five stop strings', endpoint: 'chat', patch: { stop: ['a', 'b', 'c', 'd', 'e'] }, param: 'stop' },
  { name: 'empty stop string', endpoint: 'chat', patch: { stop: ['a', ''] }, param: 'stop[1]' },
  { name: 'max_tokens 0', endpoint: 'chat', patch: { max_tokens: 0 }, param: 'max_tokens' },
  { name: 'max_completion_tokens beyond the context', endpoint: 'chat', patch: { max_completion_tokens: 10_000_000 }, param: 'max_completion_tokens' },
  { name: 'max_tokens beyond the context', endpoint: 'completion', patch: { max_tokens: 10_000_000 }, param: 'max_tokens' },
  { name: 'prompt with two strings', endpoint: 'completion', patch: { prompt: ['a', 'b'] }, param: 'prompt' },
  { name: 'prompt missing', endpoint: 'completion', patch: { prompt: undefined }, param: 'prompt' },
  { name: 'unknown routing field', endpoint: 'chat', patch: { routing: { strategy: 'ban', tauu: 0.5 } }, param: 'routing.tauu' },
  { name: 'unknown strategy', endpoint: 'chat', patch: { routing: { strategy: 'random' } }, param: 'routing.strategy' },
  { name: 'tau > 1', endpoint: 'completion', patch: { routing: { strategy: 'ban', tau: 1.5 } }, param: 'routing.tau' },
  { name: 'lambda < 0', endpoint: 'chat', patch: { routing: { strategy: 'pick', lambda: -0.1 } }, param: 'routing.lambda' },
  { name: 'top_k beyond the model', endpoint: 'chat', patch: { routing: { top_k: 999 } }, param: 'routing.top_k' },
  { name: 'min_experts above top_k', endpoint: 'chat', patch: { routing: { top_k: 1, min_experts: 2 } }, param: 'routing.min_experts' },
  { name: 'expert id outside the model', endpoint: 'chat', patch: { routing: { strategy: 'pick', key_experts: { '0': [0, 9999] } } }, param: 'routing.key_experts.0[1]', needsStrategy: 'pick' },
  { name: 'layer outside the model', endpoint: 'chat', patch: { routing: { strategy: 'pick', key_experts: { '999': [0] } } }, param: 'routing.key_experts.999', needsStrategy: 'pick' },
  { name: 'bad key_experts key', endpoint: 'chat', patch: { routing: { strategy: 'pick', key_experts: { first: [0] } } }, param: 'routing.key_experts.first' },
  { name: 'key_experts with top_k', endpoint: 'chat', patch: { routing: { key_experts: { '*': [0] } } }, param: 'routing.key_experts' },
  { name: 'unknown profile', endpoint: 'chat', patch: { routing: { profile: 'no-such-profile' } }, param: 'routing.profile' },
  { name: 'stats level unknown', endpoint: 'chat', patch: { routing: { stats: 'verbose' } }, param: 'routing.stats' },
];
