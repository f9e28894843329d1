import { renameSync, rmSync } from 'node:fs';

/**
 * Builds directory `final` with `build(tmp)` unless `isComplete(final)`; safe when several
 * processes race. Lock-free: each builds into its own temporary directory and renames it into
 * place; the rename fails if another process won, and then the winner's copy is used. No lock
 * file can go stale when a test runner kills a worker mid-build.
 */
export function buildOnce(final: string, isComplete: (dir: string) => boolean, build: (tmp: string) => void): void {
  if (isComplete(final)) return;
  const tmp = `${final}.build-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    build(tmp);
    try {
      renameSync(tmp, final);
    } catch (err) {
      // Someone else finished first (the target exists and is not empty): theirs is as good as ours.
      if (!isComplete(final)) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
