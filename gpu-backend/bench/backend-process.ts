import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join, resolve } from 'node:path';

const MAIN = join(resolve(import.meta.dirname, '..'), 'src/main.ts');

export interface BackendProcess {
  base: string;
  /** Every stdout line so far (pino JSON). */
  lines: string[];
  /** SIGTERM, then resolves with the exit code once the process is gone. */
  stop(): Promise<number | null>;
}

/**
 * Starts gpu-backend/src/main.ts as its own process on an ephemeral port (PORT=0; the port is
 * read from its "listening" log line) and resolves once /ready answers.
 */
export async function startBackendProcess(env: Record<string, string>, readyTimeoutMs = 300_000): Promise<BackendProcess> {
  const proc: ChildProcess = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    return exited;
  };
  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      proc.once('exit', (code) => reject(new Error(`backend exited with code ${code} before listening`)));
      // Keep draining stdout after the line we want, or the child blocks on a full pipe.
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        lines.push(line);
        try {
          const entry = JSON.parse(line) as { msg?: string; port?: number };
          if (entry.msg === 'listening' && entry.port) resolvePort(entry.port);
        } catch {}
      });
    });
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + readyTimeoutMs;
    while (!(await fetch(`${base}/ready`).then((r) => r.ok, () => false))) {
      if (proc.exitCode !== null) throw new Error(`backend exited with code ${proc.exitCode} while loading`);
      if (Date.now() > deadline) throw new Error('backend not ready in time');
      await new Promise((r) => setTimeout(r, 200));
    }
    return { base, lines, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
