import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

/**
 * GPU memory from nvidia-smi, the one view that sees a Vulkan (WebGPU) process's allocations: ORT's
 * WebGPU provider reports none itself. Absent nvidia-smi (CPU hosts), every reading is null.
 */

export interface GpuInfo {
  index: number;
  name: string;
  driver: string;
  memoryTotalMiB: number;
}

/** used MiB per GPU index. */
export type GpuUsedMiB = number[];

function smi(args: string[]): string | null {
  try {
    return execFileSync('nvidia-smi', args, { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
}

const rows = (csv: string) =>
  csv
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(',').map((f) => f.trim()));

export function gpuInfo(): GpuInfo[] | null {
  const out = smi(['--query-gpu=index,name,driver_version,memory.total', '--format=csv,noheader,nounits']);
  return out === null ? null : rows(out).map(([index, name, driver, total]) => ({ index: Number(index), name, driver, memoryTotalMiB: Number(total) }));
}

export function gpuUsedNow(): GpuUsedMiB | null {
  const out = smi(['--query-gpu=memory.used', '--format=csv,noheader,nounits']);
  return out === null ? null : rows(out).map(([used]) => Number(used));
}

/**
 * Samples memory.used every intervalMs in one long-lived `nvidia-smi -lms` child (cheaper than a
 * process per sample) and keeps the peak per GPU, overall and since the last sectionPeak().
 * stop() must be called: the child would otherwise outlive the benchmark.
 */
export class GpuMemorySampler {
  private child: ChildProcess | null = null;
  private peak: number[] = [];
  private section: number[] = [];
  private buffered = '';

  start(intervalMs = 200): boolean {
    if (gpuUsedNow() === null) return false;
    const child = spawn('nvidia-smi', ['--query-gpu=index,memory.used', '--format=csv,noheader,nounits', `-lms`, String(intervalMs)], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.on('error', () => (this.child = null));
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => this.ingest(chunk));
    this.child = child;
    // A crash or exit of the benchmark must not leave nvidia-smi looping.
    process.once('exit', () => child.kill());
    return true;
  }

  private ingest(chunk: string): void {
    this.buffered += chunk;
    const lines = this.buffered.split('\n');
    this.buffered = lines.pop()!;
    for (const line of lines) {
      const [index, used] = line.split(',').map((f) => Number(f.trim()));
      if (!Number.isInteger(index) || !Number.isFinite(used)) continue;
      this.peak[index] = Math.max(this.peak[index] ?? 0, used);
      this.section[index] = Math.max(this.section[index] ?? 0, used);
    }
  }

  /** Peak used MiB per GPU since start(), or null without nvidia-smi. */
  overallPeak(): GpuUsedMiB | null {
    return this.child || this.peak.length ? [...this.peak] : null;
  }

  /** Peak used MiB per GPU since the previous call, then starts a new section. */
  sectionPeak(): GpuUsedMiB | null {
    if (!this.child && !this.section.length) return null;
    const p = [...this.section];
    this.section = [];
    return p;
  }

  /** Ends the nvidia-smi child and waits (up to 2 s) for it to exit, so it is reaped, not left defunct. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill();
    await Promise.race([exited, new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
  }
}
