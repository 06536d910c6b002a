import { dirname } from 'node:path';
import { PassThrough } from 'node:stream';
import type { RunOptions, RunResult } from '../exec.js';
import { assertSuccess, childEnv, run } from '../exec.js';
import { isDigest } from '../reference.js';
import type { Registries } from '../registries.js';
import type { TimeLimit } from '../timeout-settings.js';

export interface CraneCommandOptions {
  /** Path of the crane binary. */
  readonly path: string;
  /** The registry the commands talk to: `--insecure` exactly when `registries` says it is insecure. */
  readonly registry: string;
  readonly registries: Registries;
  /** A private DOCKER_CONFIG holding registry credentials; absent, crane reads only `$HOME/.docker`. */
  readonly dockerConfigDir?: string;
  /** Appended to every failure message: what the user can check. */
  readonly failureHint?: string;
  /** The stage's limit on each crane (and tar) process (see exec.run). */
  readonly timeLimit?: TimeLimit;
}

/** crane, one typed method per command the action uses; failures throw a ToolError. */
export interface Crane {
  /** Runs `crane <args>` silently; throws a ToolError naming the command when it fails. */
  run(args: readonly string[], input?: string): Promise<RunResult>;
  /** `crane digest [--platform p] <reference>`: the manifest digest the registry serves. */
  digest(reference: string, platform?: string): Promise<string>;
  /** `crane config <reference>`: the image's raw config blob. */
  config(reference: string): Promise<string>;
  /** `crane export … -` piped straight into `tar -x`: the flattened root never touches disk as a tarball. */
  exportTo(reference: string, platform: string, folder: string): Promise<void>;
}

/** The one way the action runs crane: argv arrays, a minimal environment, no output in the log. */
export function craneCommand(options: CraneCommandOptions): Crane {
  return craneWith({
    path: options.path,
    insecure: options.registries.isInsecure(options.registry),
    ...(options.dockerConfigDir !== undefined && { dockerConfigDir: options.dockerConfigDir }),
    ...(options.failureHint !== undefined && { failureHint: options.failureHint }),
    ...(options.timeLimit !== undefined && { timeLimit: options.timeLimit }),
  });
}

/** What one crane command needs: whether its registry is insecure, and crane's DOCKER_CONFIG. */
interface CraneOptions {
  readonly path: string;
  readonly insecure: boolean;
  readonly dockerConfigDir?: string;
  readonly failureHint?: string;
  readonly timeLimit?: TimeLimit;
}

/** crane's whole environment: the runner's basics (see childEnv) and DOCKER_CONFIG when given. */
export function craneEnv(
  dockerConfigDir: string | undefined,
  environment: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string> {
  return childEnv(dockerConfigDir === undefined ? {} : { DOCKER_CONFIG: dockerConfigDir }, environment);
}

function craneWith(options: CraneOptions): Crane {
  const env = craneEnv(options.dockerConfigDir);
  // After the command, where cobra also takes crane's global flags (`crane digest --insecure …`).
  const globalFlags = options.insecure ? ['--insecure'] : [];
  const hint = options.failureHint ?? '';
  const runCrane = async (args: readonly string[], how: CraneRun = {}): Promise<RunResult> => {
    // `index append` is one command of two words: the flags go after both.
    const words = args[0] === 'index' ? 2 : 1;
    const argv = [...args.slice(0, words), ...globalFlags, ...args.slice(words)];
    const { input, stdout } = how;
    const result = await run(options.path, argv, {
      env,
      // crane reads a reference as a local file or OCI layout first when one exists by that name
      // (cmd/crane/cmd/index.go loadImage): it runs in its own verified install folder, where no
      // `<registry host>/…` path exists, never in the workspace, where a file could stand in for an image.
      cwd: dirname(options.path),
      silent: true,
      ...(options.timeLimit !== undefined && { timeLimit: options.timeLimit }),
      ...(input !== undefined && { input }),
      ...(stdout !== undefined && { stdout }),
    });
    return assertSuccess(result, how.what ?? `crane ${args.join(' ')}`, hint, { tool: 'crane', argv });
  };
  return {
    run: (args, input) => runCrane(args, input === undefined ? {} : { input }),
    async digest(reference, platform) {
      const platformFlags = platform ? ['--platform', platform] : [];
      const result = await runCrane(['digest', ...platformFlags, reference]);
      const digest = printedDigest(result.stdout);
      if (digest === undefined)
        throw new Error(`crane digest ${reference} printed "${result.stdout.trim()}", not a sha256 digest`);
      return digest;
    },
    config: async (reference) => (await runCrane(['config', reference])).stdout,
    exportTo: (reference, platform, folder) =>
      exportInto(folder, reference, options.timeLimit, (stdout) =>
        runCrane(['export', '--platform', platform, reference, '-'], {
          stdout,
          what: `crane export --platform ${platform} ${reference}`,
        }),
      ),
  };
}

/** How one crane command runs. */
interface CraneRun extends Pick<RunOptions, 'input' | 'stdout'> {
  /** The step a failure names; `crane <args>` when absent. */
  readonly what?: string;
}

/** Runs an export that writes a tarball to `stdout` and unpacks it into `folder` as it streams. */
async function exportInto(
  folder: string,
  reference: string,
  timeLimit: TimeLimit | undefined,
  exportTo: (stdout: PassThrough) => Promise<unknown>,
): Promise<void> {
  const stream = new PassThrough();
  const argv = ['-x', '-f', '-', '-C', folder, '--numeric-owner', '--preserve-permissions'];
  // tar may stop reading early on bad input: the rest is drained so the export ends and reports.
  const extracting = run('tar', argv, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    input: stream,
    silent: true,
    ...(timeLimit !== undefined && { timeLimit }),
  }).finally(() => stream.resume());
  // Settled both, so crane's own failure is the one reported: tar then fails only for lack of input.
  const [exported, extracted] = await Promise.allSettled([exportTo(stream), extracting]);
  if (exported.status === 'rejected') throw exported.reason;
  if (extracted.status === 'rejected') throw extracted.reason;
  assertSuccess(extracted.value, `tar extracting the root filesystem of ${reference}`, '', {
    tool: 'tar',
    argv,
  });
}

/**
 * The digest in `crane push`'s stdout, which ends with `registry/path@sha256:…`
 * (the line that exists "to facilitate command composition").
 */
export function pushedDigest(stdout: string): string | undefined {
  const lastLine = stdout.trim().split('\n').at(-1) ?? '';
  const digest = lastLine.slice(lastLine.lastIndexOf('@') + 1);
  return lastLine.includes('@') && isDigest(digest) ? digest : undefined;
}

/** The digest `crane digest` printed, or undefined when its output is not one. */
export function printedDigest(stdout: string): string | undefined {
  const digest = stdout.trim();
  return isDigest(digest) ? digest : undefined;
}
