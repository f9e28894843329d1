import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../model/onnx/index.ts';

/**
 * Brings GPU-resident float tensors to the host. onnxruntime-node 1.30 aborts the process on
 * getData() of a GPU output, so the copy is a run on the same EP whose output is left at the
 * default (CPU) location: an Identity for one tensor, a Concat over the rows of several (the host
 * outputs of a window of decode steps come back in one copy and one wait).
 */
export class HostCopy {
  /** Copy graphs by number of inputs. */
  private readonly sessions = new Map<number, Promise<ort.InferenceSession>>();

  constructor(private readonly options: ort.InferenceSession.SessionOptions) {}

  /** The tensors' values, one after another (all [rows, cols] with the same cols when several). */
  async toHost(...ts: ort.Tensor[]): Promise<Float32Array> {
    if (ts.every((t) => t.location === 'cpu')) {
      if (ts.length === 1) return ts[0].data as Float32Array;
      const out = new Float32Array(ts.reduce((n, t) => n + t.size, 0));
      let at = 0;
      for (const t of ts) {
        out.set(t.data as Float32Array, at);
        at += t.size;
      }
      return out;
    }
    const out = await (await this.session(ts.length)).run(Object.fromEntries(ts.map((t, i) => [`x${i}`, t])));
    return out.y.data as Float32Array;
  }

  async release(): Promise<void> {
    for (const s of this.sessions.values()) await (await s).release();
    this.sessions.clear();
  }

  private session(n: number): Promise<ort.InferenceSession> {
    let session = this.sessions.get(n);
    if (session) return session;
    const g = new GraphBuilder('host_copy');
    const inputs = Array.from({ length: n }, (_, i) => g.input(`x${i}`, 'float32', [`rows${i}`, 'cols']));
    g.output('y', 'float32', ['rows', 'cols'], n === 1 ? inputs[0] : g.node('Concat', inputs, { axis: 0 }));
    session = ort.InferenceSession.create(g.toModelBytes({ opsetVersion: 17 }), this.options);
    this.sessions.set(n, session);
    return session;
  }
}
