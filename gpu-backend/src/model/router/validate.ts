import { checkRoutingBounds } from '../../../../shared/routing/bounds.ts';
import type { ResolvedRouting } from '../../../../shared/routing/resolve.ts';
import { ROUTING_STRATEGIES, type Routing, type RoutingLimits } from '../../../../shared/routing/schema.ts';

/** The engine's last line of defence: router parameters that would make the graph compute nonsense. */
export class RouterParamError extends Error {
  constructor(
    message: string,
    /** The offending parameter, as an OpenAI-style `param` path (e.g. `routing.lambda`). */
    readonly param: string,
  ) {
    super(message);
    this.name = 'RouterParamError';
  }
}

export interface RouterLimits {
  numLayers: number;
  numExperts: number;
  /** The largest K the graph was built for (manifest.routing.maxTopK). */
  maxTopK: number;
}

/** A request-level `routing` object against the model's limits: shared/routing/bounds.ts, thrown. */
export function assertRoutingBounds(routing: Routing, limits: RoutingLimits): void {
  const issue = checkRoutingBounds(routing, limits);
  if (issue) throw new RouterParamError(issue.message, issue.param);
}

/** Checks one resolved row before it is packed into the route_* tensors; throws RouterParamError. */
export function assertResolvedRouting(row: ResolvedRouting, limits: RouterLimits, rowIndex = 0): void {
  const { numLayers: L, numExperts: E, maxTopK } = limits;
  const fail = (param: string, message: string): never => {
    throw new RouterParamError(`batch row ${rowIndex}: ${message}`, `routing.${param}`);
  };
  if (!(ROUTING_STRATEGIES as readonly string[]).includes(row.strategy)) {
    fail('strategy', `unknown strategy '${row.strategy}' (known: ${ROUTING_STRATEGIES.join(', ')})`);
  }
  if (!Number.isInteger(row.topK) || row.topK < 1 || row.topK > maxTopK) {
    fail('top_k', `top_k must be an integer between 1 and ${maxTopK}, got ${row.topK}`);
  }
  if (!Number.isInteger(row.minExperts) || row.minExperts < 1 || row.minExperts > row.topK) {
    fail('min_experts', `min_experts must be an integer between 1 and top_k (${row.topK}), got ${row.minExperts}`);
  }
  for (const [name, v] of [['lambda', row.lambda], ['tau', row.tau]] as const) {
    if (!(v >= 0 && v <= 1)) fail(name, `${name} must be between 0 and 1, got ${v}`);
  }
  if (row.keyExpertMask.length !== L * E) {
    // A mask of the wrong size means an expert id >= E or a layer >= L slipped through resolution.
    fail('key_experts', `key-expert mask has ${row.keyExpertMask.length} entries, expected ${L} layers x ${E} experts = ${L * E}`);
  }
  const bad = row.keyExpertMask.findIndex((v) => v !== 0 && v !== 1);
  if (bad >= 0) fail(`key_experts.${Math.floor(bad / E)}`, `key-expert mask entry for expert ${bad % E} is ${row.keyExpertMask[bad]}, expected 0 or 1`);
  const ls = row.layerSensitivity;
  if (ls !== undefined) {
    if (ls.length !== L) fail('profile', `layer_sensitivity has ${ls.length} entries, expected ${L} (one per layer)`);
    const i = ls.findIndex((v) => !(v >= 0 && v <= 1));
    if (i >= 0) fail('profile', `layer_sensitivity[${i}] must be between 0 and 1, got ${ls[i]}`);
  }
  for (const [name, v] of [['r_min', row.rMin], ['r_max', row.rMax]] as const) {
    if (v !== undefined && !Number.isFinite(v)) fail('profile', `${name} must be a finite number, got ${v}`);
  }
}

/**
 * Key experts given as ids, e.g. from a profile or a test: expert id >= E or layer >= L is an error.
 * Returns the [L * E] mask.
 */
export function keyMaskFromIds(byLayer: Record<number, readonly number[]>, limits: Pick<RouterLimits, 'numLayers' | 'numExperts'>): Uint8Array {
  const { numLayers: L, numExperts: E } = limits;
  const mask = new Uint8Array(L * E);
  for (const [layerKey, ids] of Object.entries(byLayer)) {
    const layer = Number(layerKey);
    if (!Number.isInteger(layer) || layer < 0 || layer >= L) {
      throw new RouterParamError(`layer ${layerKey} is out of range: the model has ${L} layers (0-${L - 1})`, `routing.key_experts.${layerKey}`);
    }
    ids.forEach((id, k) => {
      if (!Number.isInteger(id) || id < 0 || id >= E) {
        throw new RouterParamError(`expert id ${id} is out of range: the model has ${E} experts (0-${E - 1})`, `routing.key_experts.${layerKey}[${k}]`);
      }
      mask[layer * E + id] = 1;
    });
  }
  return mask;
}
