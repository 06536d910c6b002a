import * as core from '@actions/core';
import { rm } from 'node:fs/promises';
import { run } from './exec.js';

const STATE_KEY = 'cleanup-paths';
const recorded = new Set<string>();

/**
 * Remembers a path the post step must delete even if this step is killed: credentials, sandbox
 * upper directories, temporary roots. The list is saved to the runner's state after each change.
 */
export function recordForCleanup(path: string): void {
  recorded.add(path);
  core.saveState(STATE_KEY, JSON.stringify([...recorded]));
}

/** Paths recorded by the main step, as the post step reads them back. */
export function recordedPaths(): string[] {
  const saved = core.getState(STATE_KEY);
  return saved ? (JSON.parse(saved) as string[]) : [];
}

/**
 * Deletes a path; files that a sandboxed root process created may need root to delete, so a
 * non-root runner retries through `sudo -n`. A missing path is fine: cleanup may run twice.
 */
export async function removePath(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code !== 'EACCES' && code !== 'EPERM') || process.getuid?.() === 0) throw error;
    const result = await run('sudo', ['-n', 'rm', '-rf', '--', path], { silent: true });
    if (result.exitCode !== 0)
      throw new Error(`cannot remove ${path}: ${result.stderr.trim() || code}`, { cause: error });
  }
}
