import type { Routing } from '../../../shared/routing/schema.ts';

/** The chat request the page sends; `routing` always asks for full stats, which the heatmap needs. */
export function chatBody(model: string, prompt: string, maxTokens: number | undefined, routing: Routing): Record<string, unknown> {
  return {
    model,
    stream: true,
    stream_options: { include_usage: true },
    ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
    messages: [{ role: 'user', content: prompt }],
    routing: { ...routing, stats: 'full' },
  };
}

/** The exact text sent: shown on the page and POSTed unchanged. */
export const bodyText = (body: Record<string, unknown>): string => JSON.stringify(body, null, 2);

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The key stays an environment variable in snippets, so a copied command never carries it. */
export function curlSnippet(origin: string, body: Record<string, unknown>): string {
  return [
    `curl -N ${origin}/v1/chat/completions \\`,
    `  -H "Authorization: Bearer $PICKBAN_API_KEY" -H "Content-Type: application/json" \\`,
    `  -d ${shellQuote(JSON.stringify(body))}`,
  ].join('\n');
}

export function openaiSnippet(origin: string, body: Record<string, unknown>): string {
  const { model, messages, routing, max_tokens } = body;
  const args = JSON.stringify({ model, messages, ...(max_tokens !== undefined ? { max_tokens } : {}), stream: true, stream_options: { include_usage: true } }, null, 2);
  return `import OpenAI from 'openai';

const client = new OpenAI({ baseURL: '${origin}/v1', apiKey: process.env.PICKBAN_API_KEY });
const stream = await client.chat.completions.create({
  ...${args.replace(/\n/g, '\n  ')},
  // @ts-expect-error PickBan's routing rides along as an extra body field
  routing: ${JSON.stringify(routing)},
});
for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? '');
`;
}

/** Per layer, the expert ids the request names as key experts ("*" applies to every layer). */
export function keyExpertSets(routing: Routing, numLayers: number): Set<number>[] {
  const all = routing.key_experts?.['*'] ?? [];
  return Array.from({ length: numLayers }, (_, layer) => new Set([...all, ...(routing.key_experts?.[String(layer)] ?? [])]));
}
