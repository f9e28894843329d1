import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../model/onnx/index.ts';

/**
 * Brings a GPU-resident float tensor to the host. onnxruntime-node 1.30 aborts the process on
 * getData() of a GPU output, so the copy is an Identity run on the same EP whose output is left
 * at the default (CPU) location. Used for the logits of steps where some row samples; greedy
 * rows read the graph's ArgMax and the logits never leave the GPU.
 */
export class HostCopy {
  private session: Promise<ort.InferenceSession> | null = null;

  constructor(private readonly options: ort.InferenceSession.SessionOptions) {}

  async toHost(t: ort.Tensor): Promise<Float32Array> {
    if (t.location === 'cpu') return t.data as Float32Array;
    this.session ??= (async () => {
      const g = new GraphBuilder('host_copy');
      g.input('x', 'float32', ['rows', 'cols']);
      g.output('y', 'float32', ['rows', 'cols'], 'x');
      return ort.InferenceSession.create(g.toModelBytes({ opsetVersion: 17 }), this.options);
    })();
    const out = await (await this.session).run({ x: t });
    return out.y.data as Float32Array;
  }

  async release(): Promise<void> {
    if (this.session) await (await this.session).release();
  }
}
