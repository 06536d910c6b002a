import { spawn } from 'node:child_process';
import type { RunResult } from '../exec.js';
import { childEnv, lastLines, run } from '../exec.js';
import { isDigest } from '../reference.js';

export interface CraneRunnerOptions {
  /** Path of the crane binary. */
  readonly path: string;
  /** The registry has no valid TLS: crane's global `--insecure` (plain HTTP or any certificate). */
  readonly insecure: boolean;
  /** A private DOCKER_CONFIG holding registry credentials; absent, crane reads only `$HOME/.docker`. */
  readonly dockerConfigDir?: string;
  /** Appended to every failure message: what the user can check. */
  readonly failureHint?: string;
}

/** crane exited non-zero; its output is kept so callers can classify the failure. */
export class CraneError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'CraneError';
  }
}

export interface CraneRunner {
  /** Runs `crane <args>` silently; throws a CraneError naming the command when it fails. */
  run(args: readonly string[], input?: string): Promise<RunResult>;
  /** `crane digest [--platform p] <reference>`: the manifest digest the registry serves. */
  digest(reference: string, platform?: string): Promise<string>;
  /** `crane export … -` piped straight into `tar -x`: the flattened root never touches disk as a tarball. */
  exportTo(reference: string, platform: string, folder: string): Promise<void>;
}

/** crane's whole environment: the runner's basics (see childEnv) and DOCKER_CONFIG when given. */
export function craneEnv(
  dockerConfigDir: string | undefined,
  environment: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string> {
  return childEnv(dockerConfigDir === undefined ? {} : { DOCKER_CONFIG: dockerConfigDir }, environment);
}

/** The one way the action runs crane: argv arrays, a minimal environment, no output in the log. */
export function craneRunner(options: CraneRunnerOptions): CraneRunner {
  const env = craneEnv(options.dockerConfigDir);
  // After the command, where cobra also takes crane's global flags (`crane digest --insecure …`).
  const globalFlags = options.insecure ? ['--insecure'] : [];
  const hint = options.failureHint ? `\n${options.failureHint}` : '';

  const runCrane = async (args: readonly string[], input?: string): Promise<RunResult> => {
    const [command = '', ...rest] = args;
    const result = await run(options.path, [command, ...globalFlags, ...rest], {
      env,
      silent: true,
      ...(input !== undefined && { input }),
    });
    if (result.exitCode === 0) return result;
    const output = result.stderr.trim() || result.stdout.trim();
    throw new CraneError(
      `crane ${args.join(' ')} failed with exit code ${result.exitCode}${output ? `:\n${lastLines(output, 20)}` : ''}${hint}`,
      result.stderr,
    );
  };

  return {
    run: runCrane,

    async digest(reference, platform) {
      const platformFlags = platform ? ['--platform', platform] : [];
      const result = await runCrane(['digest', ...platformFlags, reference]);
      const digest = printedDigest(result.stdout);
      if (digest === undefined)
        throw new Error(`crane digest ${reference} printed "${result.stdout.trim()}", not a sha256 digest`);
      return digest;
    },

    async exportTo(reference, platform, folder) {
      const exporter = spawn(
        options.path,
        ['export', ...globalFlags, '--platform', platform, reference, '-'],
        {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const extractor = spawn(
        'tar',
        ['-x', '-f', '-', '-C', folder, '--numeric-owner', '--preserve-permissions'],
        { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['pipe', 'ignore', 'pipe'] },
      );
      exporter.stdout.pipe(extractor.stdin);
      // tar may exit early on bad input; crane then sees EPIPE, which its own exit code reports.
      extractor.stdin.on('error', () => undefined);
      const [exported, extracted] = await Promise.all([finished(exporter), finished(extractor)]);
      if (exported.code !== 0)
        throw new CraneError(
          `crane export --platform ${platform} ${reference} failed with ${exported.how}:\n${exported.stderr}${hint}`,
          exported.stderr,
        );
      if (extracted.code !== 0)
        throw new Error(
          `tar could not extract the root filesystem of ${reference} (${extracted.how}):\n${extracted.stderr}`,
        );
    },
  };
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

interface Finished {
  readonly code: number | null;
  readonly how: string;
  readonly stderr: string;
}

function finished(child: ReturnType<typeof spawn>): Promise<Finished> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) =>
      resolve({
        code,
        how: signal ? `signal ${signal}` : `exit code ${code}`,
        stderr: lastLines(stderr.trim(), 20),
      }),
    );
  });
}
