import * as core from '@actions/core';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { RunResult } from './exec.js';
import { lastLines, run } from './exec.js';
import { reporter } from './reporter.js';

const STATE_KEY = 'cleanup-paths';
const recorded = new Set<string>();

/**
 * Remembers a path the post step must delete even if this step is killed: credentials, sandbox
 * upper directories, temporary roots. The list is saved to the runner's state after each change.
 */
export function recordForCleanup(path: string): void {
  recorded.add(path);
  reporter().saveState(STATE_KEY, JSON.stringify([...recorded]));
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

/** Runs a command as root: directly when this process is root, else through `sudo -n`. */
async function runAsRoot(args: readonly string[]): Promise<RunResult> {
  const [command, commandArgs] =
    process.getuid?.() === 0 ? [args[0]!, args.slice(1)] : ['sudo', ['-n', ...args]];
  try {
    return await run(command, commandArgs, { silent: true });
  } catch (error) {
    // run rejects when the program is missing, e.g. no sudo on a self-hosted runner.
    return { exitCode: -1, stdout: '', stderr: (error as Error).message };
  }
}

/**
 * Unmounts anything still mounted below a path, then deletes it. A missing path is fine: cleanup
 * may run twice. The tree may hold anything a root process in the sandbox could make, so node's
 * fs.rm (fast, and enough in the normal case) is followed on any failure by rm(1) as root: it
 * walks with directory fds (fts/openat), so depth past PATH_MAX, which makes fs.rm fail with
 * ENAMETOOLONG, is no obstacle; root needs no write bit on a mode-000 folder; neither follows a
 * symlink out of the tree, and --one-file-system keeps rm out of anything still mounted below.
 */
export async function removePath(path: string): Promise<void> {
  for (const mountPoint of mountsBelow(path)) {
    const result = await runAsRoot(['umount', '--lazy', mountPoint]);
    if (result.exitCode !== 0) throw new Error(`cannot unmount ${mountPoint}: ${result.stderr.trim()}`);
  }
  try {
    await rm(path, { recursive: true, force: true });
    return;
  } catch (error) {
    const removeAsRoot = ['rm', '-rf', '--one-file-system', '--', path];
    let removal = await runAsRoot(removeAsRoot);
    // Immutable and append-only files stop even root. The sandbox cannot set those attributes
    // (CAP_LINUX_IMMUTABLE is not among SANDBOX_CAPABILITIES), but whoever else could is handled:
    // cleared once (chattr skips symlinks and fifos), then removal is tried again.
    if (removal.exitCode !== 0 && removal.stderr.includes('Operation not permitted')) {
      await runAsRoot(['chattr', '-R', '-i', '-a', '--', path]);
      removal = await runAsRoot(removeAsRoot);
    }
    if (removal.exitCode !== 0)
      throw new Error(
        `cannot remove ${path}: ${lastLines(removal.stderr.trim(), 5) || (error as Error).message}\n` +
          `Remove it by hand as root (rm -rf --one-file-system ${path}); where rm says "Operation not permitted", ` +
          'look for immutable or append-only attributes with lsattr and clear them with chattr -i -a.',
        { cause: error },
      );
  }
}

const removalsUnderWay = new Set<Promise<string | undefined>>();

/**
 * Starts removing a path (removePath) and returns at once, so that what follows need not wait
 * for a large tree to go. With `after`, the removal starts once that has settled (what still
 * uses the tree lets go of it first). The path stays recorded for the post step;
 * `finishBackgroundRemovals` waits for every removal started here.
 */
export function removeInBackground(path: string, after?: Promise<unknown>): void {
  const removal = Promise.resolve(after)
    .catch(() => undefined)
    .then(() => removePath(path))
    .then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
  removalsUnderWay.add(removal);
  void removal.then(() => removalsUnderWay.delete(removal));
}

/** Waits for every background removal, including any started meanwhile; returns why any failed. */
export async function finishBackgroundRemovals(): Promise<string[]> {
  const failures: string[] = [];
  while (removalsUnderWay.size > 0) {
    const removals = [...removalsUnderWay];
    for (const removal of removals) removalsUnderWay.delete(removal);
    for (const failure of await Promise.all(removals)) if (failure !== undefined) failures.push(failure);
  }
  return failures;
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
