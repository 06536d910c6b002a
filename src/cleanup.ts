import * as core from '@actions/core';
import { readFileSync } from 'node:fs';
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

/** Paths recorded by this process (the local runner cleans up without a post step). */
export function pathsRecordedThisRun(): string[] {
  return [...recorded];
}

/** Paths recorded by the main step, as the post step reads them back from the runner's state. */
export function pathsRecordedByMain(): string[] {
  const saved = core.getState(STATE_KEY);
  return saved ? (JSON.parse(saved) as string[]) : [];
}

const asRoot = (args: string[]): [string, string[]] =>
  process.getuid?.() === 0 ? [args[0]!, args.slice(1)] : ['sudo', ['-n', ...args]];

/** Mount points at or below `path` (deepest first), from this process's mount table. */
export function mountsBelow(
  path: string,
  mountinfo = readFileSync('/proc/self/mountinfo', 'utf8'),
): string[] {
  const unescape = (field: string): string =>
    field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return mountinfo
    .split('\n')
    .map((line) => unescape(line.split(' ')[4] ?? ''))
    .filter((mountPoint) => mountPoint === path || mountPoint.startsWith(`${path}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Unmounts anything still mounted below a path, then deletes it. Files a sandboxed root process
 * created may need root to delete, so a non-root runner retries through `sudo -n`. A missing
 * path is fine: cleanup may run twice.
 */
export async function removePath(path: string): Promise<void> {
  for (const mountPoint of mountsBelow(path)) {
    const [command, args] = asRoot(['umount', '--lazy', mountPoint]);
    const result = await run(command, args, { silent: true });
    if (result.exitCode !== 0) throw new Error(`cannot unmount ${mountPoint}: ${result.stderr.trim()}`);
  }
  try {
    await rm(path, { recursive: true, force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code !== 'EACCES' && code !== 'EPERM') || process.getuid?.() === 0) throw error;
    const [command, args] = asRoot(['rm', '-rf', '--', path]);
    const result = await run(command, args, { silent: true });
    if (result.exitCode !== 0)
      throw new Error(`cannot remove ${path}: ${result.stderr.trim() || code}`, { cause: error });
  }
}

/** Removes every path, then fails once with every path that could not be removed. */
export async function removePaths(paths: readonly string[]): Promise<void> {
  const failures: string[] = [];
  for (const path of paths) {
    try {
      await removePath(path);
    } catch (error) {
      failures.push(`${path}: ${(error as Error).message}`);
    }
  }
  if (failures.length > 0) throw new Error(`cleanup could not remove:\n${failures.join('\n')}`);
}
