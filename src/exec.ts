import type { ExecListeners } from '@actions/exec';
import { getExecOutput } from '@actions/exec';
import { execFileSync } from 'node:child_process';
import { relayFenced } from './log-fence.js';

/** Proxy settings, in both spellings tools read. */
export const PROXY_VARIABLES = [
  'HTTP_PROXY',
  'http_proxy',
  'HTTPS_PROXY',
  'https_proxy',
  'NO_PROXY',
  'no_proxy',
] as const;

/** What any child process may see of the runner's environment: where things are, proxies, CAs. */
const CHILD_VARIABLES = [
  'PATH',
  'HOME',
  'TMPDIR',
  ...PROXY_VARIABLES,
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
] as const;

/**
 * A child's environment: the few runner variables above plus `extra`. Everything else stays
 * out: INPUT_* (the action's inputs, secrets among them), GITHUB_TOKEN, ACTIONS_* runtime tokens,
 * and tool-specific variables such as TRIVY_* that would quietly change a tool's behaviour.
 */
export function childEnv(
  extra: Readonly<Record<string, string>> = {},
  environment: Readonly<Record<string, string | undefined>> = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of CHILD_VARIABLES) {
    const value = environment[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...extra };
}

export interface RunOptions {
  /** The whole environment of the child; `childEnv()` when absent. Nothing else is inherited. */
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
 * Unless silent, the command line and the output stream to the log fenced (see log-fence.ts):
 * @actions/exec's own echo would let the tool issue workflow commands.
 */
export async function run(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const execute = (listeners?: ExecListeners) =>
    getExecOutput(command, [...args], {
      env: { ...(options.env ?? childEnv()) },
      cwd: options.cwd,
      input: options.input === undefined ? undefined : Buffer.from(options.input),
      silent: true,
      ignoreReturnCode: true,
      ...(listeners && { listeners }),
    });
  const output = options.silent
    ? await execute()
    : await relayFenced((listeners) => {
        listeners.stdout(Buffer.from(`[command]${[command, ...args].join(' ')}\n`));
        return execute(listeners);
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

/**
 * A git command's trimmed output, or '' where git fails (not a checkout, no commit, no git).
 * Synchronous: it reads facts (commit, branch, time) while the configuration is being built.
 */
export function gitOutput(args: readonly string[], cwd: string): string {
  try {
    return execFileSync('git', [...args], {
      cwd,
      env: childEnv(),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return '';
  }
}
