import type { GraphScope } from '../onnx/index.ts';

/**
 * Rotary position embedding as transformers' Qwen2 applies it (rotate-half, not interleaved).
 *
 *   position_ids [B,S] -> Cast f32 -> Unsqueeze -> * inv_freq [D/2] -> Concat(f, f) [B,S,D]
 *                      -> Cos / Sin -> Unsqueeze(1) -> cos, sin [B,1,S,D]   (once per graph)
 *   x [B,h,S,D] -> x*cos + concat(-x[D/2:], x[:D/2])*sin                      (per q and k)
 */

export interface RotaryCache {
  cos: string;
  sin: string;
}

export function makeRotaryCache(scope: GraphScope, positionIds: string, headDim: number, theta: number): RotaryCache {
  const s = scope.withPrefix('rotary');
  // As transformers: inv_freq = 1 / theta^(2i/D) rounded to fp32, angle = position * inv_freq in fp32.
  const invFreq = Array.from({ length: headDim / 2 }, (_, i) => Math.fround(1 / Math.pow(theta, (2 * i) / headDim)));
  const pos = s.node('Unsqueeze', [s.node('Cast', [positionIds], { to: 1 }), s.constI64([-1])]);
  const freqs = s.node('Mul', [pos, s.constF32(invFreq)]);
  const emb = s.node('Concat', [freqs, freqs], { axis: -1 });
  const heads = s.constI64([1]);
  return {
    cos: s.node('Unsqueeze', [s.node('Cos', [emb]), heads], undefined, { name: 'cos' }),
    sin: s.node('Unsqueeze', [s.node('Sin', [emb]), heads], undefined, { name: 'sin' }),
  };
}

export function makeRope(scope: GraphScope, x: string, cache: RotaryCache): string {
  const [x1, x2] = scope.node('Split', [x], { axis: -1 }, { outputs: 2 });
  const rotated = scope.node('Concat', [scope.node('Neg', [x2]), x1], { axis: -1 }, { name: 'RotateHalf' });
  return scope.node('Add', [scope.node('Mul', [x, cache.cos]), scope.node('Mul', [rotated, cache.sin])], undefined, { name: 'Rotated' });
}
