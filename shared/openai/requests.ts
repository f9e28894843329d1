import { z } from 'zod';
import { RoutingSchema } from '../routing/schema.ts';

const textPart = z.looseObject({ type: z.literal('text'), text: z.string() });
const content = z.union([z.string(), z.array(textPart)]);

export const ChatMessageSchema = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: content.nullable().optional(),
  name: z.string().optional(),
});

const stop = z.union([z.string(), z.array(z.string()).max(4)]).nullable().optional();

/** Fields both completion endpoints share. Loose: unknown standard OpenAI fields pass through, ignored. */
const common = {
  model: z.string().min(1),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  max_tokens: z.number().int().positive().nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  stop,
  n: z.literal(1, { error: 'n must be 1: PickBan returns one choice per request' }).nullable().optional(),
  user: z.string().optional(),
  routing: RoutingSchema.optional(),
};

export const ChatCompletionRequestSchema = z.looseObject({
  ...common,
  messages: z.array(ChatMessageSchema).min(1),
  max_completion_tokens: z.number().int().positive().nullable().optional(),
});
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;

export const CompletionRequestSchema = z.looseObject({
  ...common,
  prompt: z.union([z.string(), z.array(z.string()).length(1, { error: 'prompt arrays must hold exactly one string' })]),
});
export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;

/** The zod issue path as OpenAI's `param`: ["routing","key_experts","3",1] -> "routing.key_experts.3[1]". */
export function issueParam(path: ReadonlyArray<PropertyKey>): string | null {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || null;
}

/** One readable line from a zod error, with the param of its first issue. */
export function describeZodError(error: z.ZodError): { message: string; param: string | null } {
  const issue = error.issues[0];
  let path = issue.path;
  // An unknown key in a strict object is reported on the parent; name the key itself.
  if (issue.code === 'unrecognized_keys') path = [...path, issue.keys[0]];
  const param = issueParam(path);
  return { message: param ? `Invalid '${param}': ${issue.message}` : issue.message, param };
}
