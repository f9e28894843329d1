/**
 * `bin/node placement.mjs <ep> <graph.onnx> [...]` inside a packed bundle: opens each graph on the
 * execution provider with ORT's verbose log, which ends its session setup with the node placements
 * (how many nodes each EP got, and which ones fell back to the CPU). On a GPU every CPU node in a
 * step costs a device-to-host round trip; this is how to find them.
 */
import * as ort from 'onnxruntime-node';

const [ep, ...files] = process.argv.slice(2);
for (const file of files) {
  console.log(`== ${file} on ${ep}`);
  const session = await ort.InferenceSession.create(file, { executionProviders: [ep], logSeverityLevel: 0, logVerbosityLevel: 0, graphOptimizationLevel: 'all' });
  await session.release();
}
