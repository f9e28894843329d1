import { z } from 'zod';
import { ROUTING_STRATEGIES, RoutingLimitsSchema } from '../routing/schema.ts';

/** Routing statistics returned as `usage.routing`. Prompt and completion tokens are counted apart. */
export const RoutingStatsSchema = z.object({
  strategy: z.enum(ROUTING_STRATEGIES),
  top_k: z.number().int(),
  profile: z.string().optional(),
  experts_per_token: z.object({ prompt: z.number(), completion: z.number(), overall: z.number() }),
  /** Average experts per token for each layer. */
  per_layer: z.object({ prompt: z.array(z.number()), completion: z.array(z.number()) }),
  /** With stats "full": selection counts [layer][expert]. */
  counts: z.object({ prompt: z.array(z.array(z.number().int())), completion: z.array(z.array(z.number().int())) }).optional(),
  tokens: z.object({ prompt: z.number().int(), completion: z.number().int() }),
});
export type RoutingStats = z.infer<typeof RoutingStatsSchema>;

export const UsageSchema = z.object({
  prompt_tokens: z.number().int(),
  completion_tokens: z.number().int(),
  total_tokens: z.number().int(),
  routing: RoutingStatsSchema.optional(),
});
export type Usage = z.infer<typeof UsageSchema>;

export const ModelInfoSchema = z.looseObject({
  id: z.string(),
  object: z.literal('model'),
  created: z.number().int(),
  owned_by: z.string(),
  architecture: z.record(z.string(), z.unknown()),
  routing: RoutingLimitsSchema,
});
export type ModelInfo = z.infer<typeof ModelInfoSchema>;

export const ModelListSchema = z.object({ object: z.literal('list'), data: z.array(ModelInfoSchema) });
export type ModelList = z.infer<typeof ModelListSchema>;
