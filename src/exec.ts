import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { basename } from 'node:path';
import type { Writable } from 'node:stream';
import { Readable } from 'node:stream';
import type { TimeLimit } from './timeout-settings.js';
import { ToolError, ToolTimeoutError, lastLines } from './tool-error.js';
import type { OutputListeners } from './reporter.js';
import { relayOutput } from './reporter.js';

export { ToolError, ToolTimeoutError, lastLines };

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
  /**
   * The child's stdin: bytes (e.g. a password for `--password-stdin`) or a stream piped in with
   * backpressure (e.g. another tool's `stdout`). Absent, stdin is empty.
   */
  readonly input?: string | Buffer | Readable;
  /**
   * Where the child's stdout streams instead of being captured (RunResult.stdout is then ''):
   * large output such as `crane export -` piped into `tar -x`. It never reaches the log.
   */
  readonly stdout?: Writable;
  /** Quiet: keep the command line and the output out of the log (the output is still captured). */
  readonly silent?: boolean;
  /**
   * The stage's limit. The child then runs in a process group of its own: past the limit, or when
   * the step is cancelled, the whole group is killed and `run` rejects (ToolTimeoutError on the limit).
   */
  readonly timeLimit?: TimeLimit;
}

export interface RunResult {
  /** The exit code; 128 + the signal's number when a signal ended the child (as a shell says it). */
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The signal that ended the child, if one did. */
  readonly signal?: NodeJS.Signals;
}

/** After the child exits, how long its output may stay open (a grandchild holding it) before the run ends. */
const STDIO_GRACE_MS = 10_000;

/**
 * The one way the action starts a tool: an argv array (never a shell line), a minimal
 * environment (childEnv), and its exit code and output back. It does not throw on a non-zero
 * exit: callers decide what a failure means with `assertSuccess`; it rejects only when the
 * program cannot be started. Unless silent, the command line and the output stream to the log
 * fenced (see log-fence.ts), so the tool cannot issue workflow commands.
 */
export async function run(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  if (options.silent) return runChild(command, args, options);
  return relayOutput((listeners) => {
    listeners.stdout(Buffer.from(`[command]${[command, ...args].join(' ')}\n`));
    return runChild(command, args, options, listeners);
  });
}

function runChild(
  command: string,
  args: readonly string[],
  options: RunOptions,
  relay?: OutputListeners,
): Promise<RunResult> {
  const child = spawn(command, [...args], {
    env: { ...(options.env ?? childEnv()) },
    cwd: options.cwd,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: options.timeLimit !== undefined,
  });
  const group = options.timeLimit
    ? new LimitedGroup(child, toolName(command, args), options.timeLimit)
    : undefined;
  const [childOut, childErr] = [child.stdout!, child.stderr!];
  feedInput(child.stdin, options.input);
  const stdout = collect(childOut, options.stdout ? undefined : relay?.stdout, options.stdout);
  const stderr = collect(childErr, relay?.stderr);
  return new Promise((resolve, reject) => {
    let grace: NodeJS.Timeout | undefined;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(grace);
      const stopped = group?.end();
      if (stopped) return reject(stopped);
      resolve({
        exitCode: code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0),
        stdout: stdout(),
        stderr: stderr(),
        ...(signal && { signal }),
      });
    };
    child.once('error', (error) => {
      group?.end();
      reject(new Error(`could not start ${command}: ${error.message}`, { cause: error }));
    });
    child.once('exit', (code, signal) => {
      grace = setTimeout(() => {
        childOut.destroy();
        childErr.destroy();
        finish(code, signal);
      }, STDIO_GRACE_MS);
    });
    child.once('close', finish);
  });
}

/** `crane push`, `trivy image`, `tar`: the program's name and its subcommand, if it has one. */
function toolName(command: string, args: readonly string[]): string {
  const [first] = args;
  return first && !first.startsWith('-') ? `${basename(command)} ${first}` : basename(command);
}

/** Kill functions of the process groups running now, by group ID, for a cancelled step. */
const liveGroups = new Map<number, (signal: NodeJS.Signals) => void>();

/**
 * A detached child no longer receives the signals the runner sends the action when the job is
 * cancelled: while any group lives, SIGINT and SIGTERM kill them all (the step then fails as
 * cancelled, and the summary is still written, as with the build sandbox's lifeline).
 */
function cancelAllGroups(signal: NodeJS.Signals): void {
  for (const kill of [...liveGroups.values()]) kill(signal);
}

/** A child in its own process group, killed with every process in it past its time limit. */
class LimitedGroup {
  private readonly timer: NodeJS.Timeout;
  private stopped?: Error;

  constructor(
    private readonly child: ChildProcess,
    tool: string,
    limit: TimeLimit,
  ) {
    this.timer = setTimeout(() => this.kill(new ToolTimeoutError(tool, limit)), limit.ms);
    if (child.pid === undefined) return;
    if (liveGroups.size === 0) {
      process.on('SIGINT', cancelAllGroups);
      process.on('SIGTERM', cancelAllGroups);
    }
    liveGroups.set(child.pid, (signal) =>
      this.kill(
        new Error(`${tool} was stopped with every process it started: the step was cancelled (${signal}).`),
      ),
    );
  }

  /** The child is done: no more killing. Returns why it was stopped, if it was. */
  end(): Error | undefined {
    clearTimeout(this.timer);
    if (this.child.pid !== undefined && liveGroups.delete(this.child.pid) && liveGroups.size === 0) {
      process.off('SIGINT', cancelAllGroups);
      process.off('SIGTERM', cancelAllGroups);
    }
    return this.stopped;
  }

  private kill(reason: Error): void {
    this.stopped ??= reason;
    try {
      // The negative PID names the group: the child and everything it started that stayed in it.
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      // ESRCH: the group is already gone.
    }
  }
}

function feedInput(stdin: Writable | null, input: RunOptions['input']): void {
  if (!stdin || input === undefined) return;
  // The child may exit without reading all of it (EPIPE): its exit code tells what happened.
  stdin.on('error', () => undefined);
  if (input instanceof Readable) input.pipe(stdin);
  else stdin.end(input);
}

/** Reads a child's stream into memory (unless piped on) while relaying it; returns its text when done. */
function collect(stream: Readable, relay?: (data: Buffer) => void, pipeTo?: Writable): () => string {
  if (pipeTo) {
    stream.pipe(pipeTo);
    return () => '';
  }
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    relay?.(chunk);
  });
  return () => Buffer.concat(chunks).toString('utf8');
}

/** Throws a ToolError that names the step and carries the tool's last lines when it failed. */
export function assertSuccess(result: RunResult, what: string, hint = '', tool?: ToolRun): RunResult {
  if (result.exitCode === 0) return result;
  throw new ToolError({
    tool: tool?.tool ?? what,
    argv: tool?.argv ?? [],
    exitCode: result.exitCode,
    signal: result.signal ?? null,
    stderr: result.stderr,
    stdout: result.stdout,
    what,
    hint,
  });
}

/** Which tool and argv a result came from, for the ToolError. */
export interface ToolRun {
  readonly tool: string;
  readonly argv: readonly string[];
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
