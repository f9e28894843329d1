import { z } from 'zod';
import { ROUTING_DEFAULTS, RoutingSchema, type Routing, type RoutingLimits, type RoutingStrategy } from './schema.ts';

/**
 * A routing profile stored with a model (`<model>/profiles/<name>.json`): calibrated key experts
 * plus default thresholds. The request's own fields override it; its key experts are the base set.
 */
export const RoutingProfileSchema = z.object({
  name: z.string(),
  description: z.string().optional(),
  defaults: RoutingSchema.omit({ profile: true, stats: true, key_experts: true }).optional(),
  key_experts: RoutingSchema.shape.key_experts,
  // Calibration for ban_and_pick (arXiv 2509.06346): min-max normalised layer sensitivity W'_l
  // and the token-sensitivity range of R = top-3 mass / top-K mass.
  layer_sensitivity: z.array(z.number().min(0).max(1)).optional(),
  r_min: z.number().optional(),
  r_max: z.number().optional(),
  // Anything else calibration wants to keep (frequencies, KL impacts) rides along unvalidated.
  calibration: z.record(z.string(), z.unknown()).optional(),
});
export type RoutingProfile = z.infer<typeof RoutingProfileSchema>;

/** One batch row's router parameters, fully resolved: what the graph's route_* inputs carry. */
export interface ResolvedRouting {
  strategy: RoutingStrategy;
  /** [numLayers * numExperts], 1 where the expert is a key expert of that layer. */
  keyExpertMask: Uint8Array;
  lambda: number;
  tau: number;
  topK: number;
  minExperts: number;
  renormalize: boolean;
  stats: 'summary' | 'full';
  profile?: string;
  layerSensitivity?: Float32Array;
  rMin?: number;
  rMax?: number;
}

/** Expands `{"*": [...], "3": [...]}` into a layers x experts mask; a layer's ids add to "*". */
export function keyExpertMask(keyExperts: Routing['key_experts'], numLayers: number, numExperts: number): Uint8Array {
  const mask = new Uint8Array(numLayers * numExperts);
  for (const [layer, ids] of Object.entries(keyExperts ?? {})) {
    const layers = layer === '*' ? [...Array(numLayers).keys()] : [Number(layer)];
    for (const l of layers) for (const e of ids) mask[l * numExperts + e] = 1;
  }
  return mask;
}

/** Request fields over profile defaults over global defaults. Assumes bounds were checked. */
export function resolveRouting(routing: Routing | undefined, limits: RoutingLimits, profile?: RoutingProfile): ResolvedRouting {
  const r = routing ?? {};
  const d = profile?.defaults ?? {};
  const topK = r.top_k ?? d.top_k ?? limits.default_top_k;
  const mergedKeys: Record<string, number[]> = {};
  for (const src of [profile?.key_experts, r.key_experts]) {
    for (const [layer, ids] of Object.entries(src ?? {})) mergedKeys[layer] = [...(mergedKeys[layer] ?? []), ...ids];
  }
  const strategy = r.strategy ?? d.strategy ?? 'top_k';
  const usesKeys = strategy === 'pick' || strategy === 'pick_and_ban' || strategy === 'ban_and_pick';
  return {
    strategy,
    keyExpertMask: usesKeys ? keyExpertMask(mergedKeys, limits.num_layers, limits.num_experts) : new Uint8Array(limits.num_layers * limits.num_experts),
    lambda: r.lambda ?? d.lambda ?? ROUTING_DEFAULTS.lambda,
    tau: r.tau ?? d.tau ?? ROUTING_DEFAULTS.tau,
    topK,
    minExperts: Math.min(r.min_experts ?? d.min_experts ?? ROUTING_DEFAULTS.minExperts, topK),
    renormalize: r.renormalize ?? d.renormalize ?? limits.renormalize_default,
    stats: r.stats ?? 'summary',
    profile: r.profile,
    layerSensitivity: profile?.layer_sensitivity ? Float32Array.from(profile.layer_sensitivity) : undefined,
    rMin: profile?.r_min,
    rMax: profile?.r_max,
  };
}
