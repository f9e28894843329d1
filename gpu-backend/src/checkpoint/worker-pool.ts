import * as fs from 'node:fs';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

/**
 * A synchronous worker pool for the generator's and converter's hot loops (random fill, bf16
 * decode, quantization), so their callers keep plain synchronous APIs: the main thread posts a
 * batch of tasks, works on the same batch itself, then sleeps in Atomics.wait until the workers
 * are done. Tasks share big data through SharedArrayBuffers (or a file descriptor).
 *
 * Kernels travel to the workers as source text (Function#toString) and run through eval, because
 * the esbuild bundles (generate.mjs, convert.mjs) have no separate worker file to load, and tsx's
 * .ts loader does not reach worker threads. So a kernel and its helpers must be self-contained:
 * they may use only their arguments, globals, and ctx. A kernel calls its helpers as ctx.lib.name
 * (transforms such as vitest's rewrite direct calls of imported functions); helpers may call
 * helpers of their own module directly.
 * Workers are unref'd: an idle pool never keeps the process alive.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Helpers = Record<string, (...args: any[]) => any>;
export interface KernelContext<L extends Helpers = Helpers> {
  fs: typeof fs;
  lib: L;
  /** A per-thread scratch buffer of at least `bytes`, reused across tasks (no page-faulting a fresh one per chunk). */
  scratch(bytes: number): ArrayBuffer;
}
export type Kernel<T, L extends Helpers> = (task: T, ctx: KernelContext<L>) => void;

const MAX_THREADS = 16;

function defaultThreads(): number {
  const fromEnv = Number(process.env.PICKBAN_THREADS);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return Math.min(availableParallelism(), MAX_THREADS);
}
let threads = defaultThreads();

/** Threads (the main one included) that kernels may use; PICKBAN_THREADS or the CPU count (at most 16) by default. */
export function setThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`threads must be a positive integer, got ${n}`);
  threads = n;
}
export const threadCount = (): number => threads;

function makeScratch(): (bytes: number) => ArrayBuffer {
  let buf = new ArrayBuffer(0);
  return (bytes) => (buf.byteLength >= bytes ? buf : (buf = new ArrayBuffer(bytes)));
}
const mainScratch = makeScratch();

// V8 schedules collections by heap growth and counts SharedArrayBuffers too little: a converter
// allocating one per tensor would keep GBs of finished ones alive (measured: 4 GB after four 1.2 GB
// tensors). So buffers for kernel results come from here, which collects after every
// SHARED_COLLECT_BYTES of them (a full collection of a converter heap takes tens of ms).
const SHARED_COLLECT_BYTES = 1 << 30;
let sharedSinceCollect = 0;
let collectMain: (() => void) | undefined;

/** A SharedArrayBuffer for kernel results; see above for why not `new SharedArrayBuffer`. */
export function sharedBuffer(bytes: number): SharedArrayBuffer {
  sharedSinceCollect += bytes;
  if (sharedSinceCollect > SHARED_COLLECT_BYTES) {
    sharedSinceCollect = bytes;
    if (!collectMain) {
      setFlagsFromString('--expose-gc');
      collectMain = runInNewContext('gc') as () => void;
    }
    collectMain();
  }
  return new SharedArrayBuffer(bytes);
}

// tsx (esbuild keepNames) wraps nested functions in __name(); the shim makes such source run anywhere.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const port = workerData.port;
const __name = (f) => f;
let buf = new ArrayBuffer(0);
const fs = require('node:fs');
const scratch = (bytes) => (buf.byteLength >= bytes ? buf : (buf = new ArrayBuffer(bytes)));
// A worker's heap holds each batch's SharedArrayBuffers until it collects, but a worker allocates
// too little to collect on its own, so finished tensors would stay pinned (GBs of them). Hence an
// explicit collection once the buffers it has seen pass PIN_LIMIT, after the batch is reported done.
require('v8').setFlagsFromString('--expose-gc');
const collect = require('vm').runInNewContext('gc');
const PIN_LIMIT = 256 * 1024 * 1024;
let pinned = 0;
const sharedBytes = (tasks) => {
  const seen = new Set();
  for (const t of tasks) for (const v of Object.values(t)) if (v instanceof SharedArrayBuffer) seen.add(v);
  let bytes = 0;
  for (const b of seen) bytes += b.byteLength;
  return bytes;
};
const kernels = new Map();
port.on('message', (m) => {
  if (m.define) {
    kernels.set(m.define, new Function('__name', 'return ' + m.source)(__name));
    return;
  }
  const c = new Int32Array(m.ctrl);
  try {
    const { kernel, lib } = kernels.get(m.kernel);
    const ctx = { fs, lib, scratch };
    for (let i = Atomics.add(c, 0, 1); i < m.tasks.length; i = Atomics.add(c, 0, 1)) kernel(m.tasks[i], ctx);
  } catch (err) {
    Atomics.store(c, 0, 0x3fffffff);
    Atomics.store(c, 2, 1);
    port.postMessage(err instanceof Error ? err.message : String(err));
  }
  Atomics.add(c, 1, 1);
  Atomics.notify(c, 1);
  pinned += sharedBytes(m.tasks);
  if (pinned > PIN_LIMIT) {
    pinned = 0;
    m = null;
    collect();
  }
});
`;

interface Slot {
  port: MessagePort;
  defined: Set<string>;
}
const slots: Slot[] = [];

function ensureWorkers(n: number): Slot[] {
  while (slots.length < n) {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { port: port2 }, transferList: [port2] });
    worker.unref();
    // Kernel errors come back as messages; this only fires if a worker itself dies.
    worker.on('error', (err) => console.error(`worker-pool: ${err.message}`));
    slots.push({ port: port1, defined: new Set() });
  }
  return slots.slice(0, n);
}

function kernelSource(kernel: Helpers[string], helpers: Helpers): string {
  // Each helper is bound under its function name too, which is what other helpers' source calls
  // it by (a bundler's renaming applies to the declaration and the call alike).
  const defs = Object.values(helpers).map((h) => `const ${h.name} = ${h.toString()};`).join('\n');
  const lib = Object.entries(helpers).map(([key, h]) => `${JSON.stringify(key)}: ${h.name}`).join(', ');
  return `(() => {\n${defs}\nreturn { kernel: ${kernel.toString()}, lib: { ${lib} } };\n})()`;
}

/**
 * Runs `kernel` over every task, on up to threadCount() threads when `parallel` (every buffer a
 * task writes must then be a SharedArrayBuffer), else on the main thread alone. Returns when all
 * tasks are done; rethrows the first error.
 */
export function runKernel<T, L extends Helpers>(name: string, kernel: Kernel<T, L>, helpers: L, tasks: T[], parallel = true): void {
  const n = parallel ? Math.min(threads, tasks.length) : 1;
  const mainContext: KernelContext<L> = { fs, lib: helpers, scratch: mainScratch };
  if (n <= 1) {
    for (const t of tasks) kernel(t, mainContext);
    return;
  }
  const workers = ensureWorkers(n - 1);
  // [next task, workers finished, error flag]
  const ctrl = new Int32Array(new SharedArrayBuffer(12));
  for (const w of workers) {
    if (!w.defined.has(name)) {
      w.port.postMessage({ define: name, source: kernelSource(kernel as Helpers[string], helpers) });
      w.defined.add(name);
    }
    w.port.postMessage({ kernel: name, tasks, ctrl: ctrl.buffer });
  }
  let mainError: unknown;
  try {
    for (let i = Atomics.add(ctrl, 0, 1); i < tasks.length; i = Atomics.add(ctrl, 0, 1)) kernel(tasks[i], mainContext);
  } catch (err) {
    Atomics.store(ctrl, 0, 0x3fffffff);
    mainError = err;
  }
  for (let done = Atomics.load(ctrl, 1); done < workers.length; done = Atomics.load(ctrl, 1)) Atomics.wait(ctrl, 1, done);
  if (mainError) throw mainError;
  if (Atomics.load(ctrl, 2)) {
    const messages = workers.map((w) => receiveMessageOnPort(w.port)?.message).filter(Boolean);
    throw new Error(`${messages[0]} (${name}, in a worker thread)`);
  }
}
