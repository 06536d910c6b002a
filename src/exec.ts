import { getExecOutput } from '@actions/exec';

export interface RunOptions {
  /** The whole environment of the child: nothing is inherited unless the caller passes it on. */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Written to the child's stdin, e.g. a password for `--password-stdin`. */
  readonly input?: string | Buffer;
  /** Keep the child's output out of the log (it is still captured). */
  readonly silent?: boolean;
}

export interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a program with an argv array (never a shell line) and returns its exit code and output.
 * It does not throw on a non-zero exit: callers decide what a failure means with `assertSuccess`.
 */
export async function run(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const output = await getExecOutput(command, [...args], {
    env: options.env ? { ...options.env } : undefined,
    cwd: options.cwd,
    input: options.input === undefined ? undefined : Buffer.from(options.input),
    silent: options.silent ?? false,
    ignoreReturnCode: true,
  });
  return { exitCode: output.exitCode, stdout: output.stdout, stderr: output.stderr };
}

/** Throws an error that names the step and carries the tool's last lines when it failed. */
export function assertSuccess(result: RunResult, what: string, hint = ''): RunResult {
  if (result.exitCode === 0) return result;
  const tail = lastLines(result.stderr.trim() || result.stdout.trim(), 20);
  throw new Error(
    `${what} failed with exit code ${result.exitCode}${tail ? `:\n${tail}` : ''}${hint ? `\n${hint}` : ''}`,
  );
}

export function lastLines(text: string, count: number): string {
  return text.split('\n').slice(-count).join('\n');
}
