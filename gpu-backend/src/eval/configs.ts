import type { RoutingProfile } from '../../../shared/routing/resolve.ts';
import type { RoutingStrategy } from '../../../shared/routing/schema.ts';
import type { Architecture } from '../model/contract.ts';
import type { RowRouting } from '../testing/route-feeds.ts';

/** One routing setting the evaluation measures, and the curve (series) it belongs to in the plot. */
export interface EvalConfig {
  series: string;
  strategy: RoutingStrategy;
  /** What varies along the series, e.g. "τ=0.5", "λ=0.25", "profile press". */
  setting: string;
  routing: RowRouting;
}

export interface SweepOptions {
  taus: number[];
  lambdas: number[];
  /** τ of pick_and_ban's non-key walk. */
  pickAndBanTau: number;
  /** K_min of ban and ban_and_pick. */
  minExperts: number;
}

export const DEFAULT_SWEEP: SweepOptions = { taus: [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], lambdas: [0, 0.25, 0.5, 0.75, 1], pickAndBanTau: 0.5, minExperts: 1 };

/** A profile's key experts by layer index ("*" expanded to every layer). */
export function keyExpertsByLayer(profile: RoutingProfile, numLayers: number): Record<number, number[]> {
  const out: Record<number, number[]> = {};
  for (const [layer, ids] of Object.entries(profile.key_experts ?? {})) {
    for (const l of layer === '*' ? [...Array(numLayers).keys()] : [Number(layer)]) out[l] = [...new Set([...(out[l] ?? []), ...ids])];
  }
  return out;
}

/**
 * The settings for one genre group: top_k; ban over τ; pick and pick_and_ban with the matching
 * profile and a mismatched one; ban_and_pick over λ with the matching profile (W', R range, keys).
 */
export function evalConfigs(arch: Architecture, sweep: SweepOptions, matched?: RoutingProfile, mismatched?: RoutingProfile): EvalConfig[] {
  const K = arch.numExpertsPerTok;
  const renormalize = arch.normTopkProb;
  const configs: EvalConfig[] = [{ series: 'top_k', strategy: 'top_k', setting: `K=${K}`, routing: { strategy: 'top_k', topK: K, renormalize } }];
  for (const tau of sweep.taus) {
    configs.push({ series: 'ban (τ sweep)', strategy: 'ban', setting: `τ=${tau}`, routing: { strategy: 'ban', topK: K, tau, minExperts: sweep.minExperts, renormalize } });
  }
  for (const [which, profile] of [['matched', matched], ['mismatched', mismatched]] as const) {
    if (!profile) continue;
    const keyExperts = keyExpertsByLayer(profile, arch.numLayers);
    configs.push({ series: `pick (${which})`, strategy: 'pick', setting: `profile ${profile.name}, λ=1`, routing: { strategy: 'pick', topK: K, lambda: 1, keyExperts, renormalize } });
    configs.push({
      series: `pick_and_ban (${which})`, strategy: 'pick_and_ban', setting: `profile ${profile.name}, τ=${sweep.pickAndBanTau}`,
      routing: { strategy: 'pick_and_ban', topK: K, tau: sweep.pickAndBanTau, minExperts: sweep.minExperts, keyExperts, renormalize },
    });
  }
  if (matched) {
    const keyExperts = keyExpertsByLayer(matched, arch.numLayers);
    for (const lambda of sweep.lambdas) {
      configs.push({
        series: 'ban_and_pick (λ sweep)', strategy: 'ban_and_pick', setting: `profile ${matched.name}, λ=${lambda}`,
        routing: {
          strategy: 'ban_and_pick', topK: K, lambda, minExperts: sweep.minExperts, keyExperts, renormalize,
          layerSensitivity: matched.layer_sensitivity, rRange: matched.r_min !== undefined && matched.r_max !== undefined ? [matched.r_min, matched.r_max] : undefined,
        },
      });
    }
  }
  return configs;
}
