import { z } from 'zod';

/** Routing strategies, in the order of their integer codes in the graph input `route_strategy`. */
export const ROUTING_STRATEGIES = ['top_k', 'pick', 'ban', 'pick_and_ban', 'ban_and_pick'] as const;
export type RoutingStrategy = (typeof ROUTING_STRATEGIES)[number];
export const strategyCode = (s: RoutingStrategy): number => ROUTING_STRATEGIES.indexOf(s);

/** Defaults for knobs a request leaves out (a profile's own defaults sit between these and the request). */
export const ROUTING_DEFAULTS = { lambda: 1, tau: 0.9, minExperts: 1 } as const;

const expertId = z.number().int().nonnegative();
const unit = z.number().min(0).max(1);

/**
 * The per-request `routing` object. Strict: an unknown field is a client bug worth a 400,
 * unlike the loose OpenAI body around it. Model-dependent bounds are checked by `checkRoutingBounds`.
 */
export const RoutingSchema = z.strictObject({
  strategy: z.enum(ROUTING_STRATEGIES).optional(),
  // Layer index (as a string, JSON keys are strings) or "*" for every layer; a layer's ids add to "*".
  key_experts: z
    .record(z.string().regex(/^(\*|0|[1-9]\d*)$/, 'key_experts keys must be a layer index or "*"'), z.array(expertId).max(1024))
    .optional(),
  lambda: unit.optional(),
  tau: unit.optional(),
  top_k: z.number().int().min(1).optional(),
  min_experts: z.number().int().min(1).optional(),
  renormalize: z.boolean().optional(),
  profile: z.string().min(1).max(128).regex(/^[A-Za-z0-9_.-]+$/, 'profile names use letters, digits, "_", "." and "-"').optional(),
  stats: z.enum(['summary', 'full']).optional(),
});
export type Routing = z.infer<typeof RoutingSchema>;

/** What a model accepts, as the backend's /v1/models reports it and the edge caches it. */
export const RoutingLimitsSchema = z.object({
  num_layers: z.number().int().positive(),
  num_experts: z.number().int().positive(),
  default_top_k: z.number().int().positive(),
  max_top_k: z.number().int().positive(),
  strategies: z.array(z.enum(ROUTING_STRATEGIES)),
  profiles: z.array(z.string()),
  renormalize_default: z.boolean(),
});
export type RoutingLimits = z.infer<typeof RoutingLimitsSchema>;
