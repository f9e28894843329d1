import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ExecutionProvider, Manifest } from '../../model/contract.ts';

export class ExecutionProviderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExecutionProviderError';
  }
}

export interface SessionOptions {
  executionProvider: ExecutionProvider;
  threads?: number;
  /** Another graph of the model dir than graphs[ep] (the throughput graph). */
  file?: string;
  /** Outputs that stay on the device (present_* on WebGPU). */
  deviceOutputs?: readonly string[];
}

/** Session options for this EP: only it registered, optionally some outputs left on the GPU. */
export function sessionOptionsFor(opts: SessionOptions): ort.InferenceSession.SessionOptions {
  // PICKBAN_ORT_PROFILE=<prefix>: ORT's per-node trace (written when the engine shuts down), for
  // finding where a GPU step waits (device-to-host copies show up as long Memcpy nodes).
  const profile = process.env.PICKBAN_ORT_PROFILE;
  // WebGPU keeps released buffers for reuse by exact size ('simple'). ORT's default bucket cache keeps
  // at most 6 buffers per size class from 64 MB up, and none over 160 MB: at 256 rows every KV present
  // and the dense experts' products were new buffers each step (4 A2.7B layers on an H100: 79 -> 49 ms
  // per step). 'simple' never frees, so the runner keeps GQA shapes to a small series (device-kv.ts,
  // shapeBucket). PICKBAN_WEBGPU_OPTIONS='{"validationMode":"disabled"}' adds provider options, for tuning on a GPU host.
  const webgpu = opts.executionProvider === 'webgpu'
    ? { name: 'webgpu' as const, storageBufferCacheMode: 'simple', ...(process.env.PICKBAN_WEBGPU_OPTIONS ? JSON.parse(process.env.PICKBAN_WEBGPU_OPTIONS) : {}) }
    : undefined;
  return {
    ...(profile ? { enableProfiling: true, profileFilePrefix: profile } : {}),
    executionProviders: [webgpu ?? opts.executionProvider],
    graphOptimizationLevel: 'all',
    ...(opts.threads ? { intraOpNumThreads: opts.threads, interOpNumThreads: 1 } : {}),
    ...(opts.deviceOutputs?.length && opts.executionProvider !== 'cpu'
      ? { preferredOutputLocation: Object.fromEntries(opts.deviceOutputs.map((name) => [name, 'gpu-buffer' as const])) }
      : {}),
  };
}

/**
 * Opens the graph the converter emitted for this execution provider. Only that provider is
 * registered: if it cannot start (no Vulkan adapter, no CUDA libraries) this fails with one line
 * naming it, instead of ORT quietly running everything on the CPU.
 */
export async function openSession(modelDir: string, manifest: Manifest, opts: SessionOptions): Promise<ort.InferenceSession> {
  const ep = opts.executionProvider;
  const graph = opts.file ?? manifest.graphs[ep];
  if (!graph) {
    const available = Object.keys(manifest.graphs).join(', ') || 'none';
    throw new ExecutionProviderError(`The model in ${modelDir} has no graph for execution provider '${ep}' (it has: ${available}); convert it for '${ep}'`);
  }
  const backend = ort.listSupportedBackends().find((b) => b.name === ep);
  if (!backend) throw new ExecutionProviderError(`Execution provider '${ep}' is not supported by this onnxruntime-node build`);
  const options = sessionOptionsFor(opts);
  try {
    return await ort.InferenceSession.create(join(modelDir, graph), options);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    const hint = ep === 'webgpu' ? ' (WebGPU needs libvulkan1 and a GPU ICD; see VK_DRIVER_FILES)' : ep === 'cuda' ? ' (CUDA needs the onnxruntime CUDA provider libraries, CUDA 12 and cuDNN 9)' : '';
    throw new ExecutionProviderError(`Could not start execution provider '${ep}'${hint}: ${reason}`);
  }
}

/** Refuses to run with missing inputs, and logs every feed's shape when ORT rejects a run. */
export async function runChecked(
  session: ort.InferenceSession,
  feeds: Record<string, ort.Tensor>,
  onFailure?: (details: { shapes: Record<string, string>; error: string }) => void,
): Promise<ort.InferenceSession.ReturnType> {
  const missing = session.inputNames.filter((name) => !(name in feeds));
  const usable: Record<string, ort.Tensor> = {};
  for (const name of session.inputNames) if (name in feeds) usable[name] = feeds[name];
  const shapes = () => Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, `${t.type}[${t.dims.join(',')}]`]));
  if (missing.length > 0) {
    const error = `The graph needs inputs the runner did not build: ${missing.join(', ')}`;
    onFailure?.({ shapes: shapes(), error });
    throw new Error(error);
  }
  try {
    return await session.run(usable);
  } catch (err) {
    onFailure?.({ shapes: shapes(), error: err instanceof Error ? err.message : String(err) });
    throw err;
  }
}
