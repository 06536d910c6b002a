import type { TimeLimit, TimedStage } from './timeout-settings.js';
import { formatDuration } from './timeout-settings.js';

/** What a failed tool run left behind, as ToolError takes it. */
export interface ToolFailure {
  /** The program as the user knows it: `crane`, `trivy`, `tar`, … */
  readonly tool: string;
  /** The arguments after the program. Never a secret: passwords go on stdin. */
  readonly argv: readonly string[];
  /** null when the tool did not exit by itself (a signal ended it). */
  readonly exitCode: number | null;
  readonly signal?: NodeJS.Signals | null;
  readonly stderr: string;
  /** Only its last lines are shown, and only where stderr is empty. */
  readonly stdout?: string;
  /** The step that failed, in the message; `<tool> <argv>` when absent. */
  readonly what?: string;
  /** What the user can check or do, appended to the message when known. */
  readonly hint?: string;
}

/** How many of a tool's last lines a message carries. */
export const TAIL_LINES = 20;

/**
 * A tool that ran and failed: which tool, its argv, its exit code and its last lines, and what to
 * do where that is known. It holds no environment and prints none; argv never holds a secret.
 */
export class ToolError extends Error {
  readonly tool: string;
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The tool's stderr in full, to classify the failure (see publish/failures.ts). */
  readonly stderr: string;
  /** Its last lines, as the message shows them. */
  readonly tail: string;
  readonly hint: string;

  constructor(failure: ToolFailure) {
    const tail = lastLines(failure.stderr.trim() || (failure.stdout ?? '').trim(), TAIL_LINES);
    const how = failure.signal ? `signal ${failure.signal}` : `exit code ${failure.exitCode}`;
    const what = failure.what ?? [failure.tool, ...failure.argv].join(' ');
    const hint = failure.hint ?? '';
    super(`${what} failed with ${how}${tail ? `:\n${tail}` : ''}${hint ? `\n${hint}` : ''}`);
    this.name = 'ToolError';
    this.tool = failure.tool;
    this.argv = Object.freeze([...failure.argv]);
    this.exitCode = failure.exitCode;
    this.signal = failure.signal ?? null;
    this.stderr = failure.stderr;
    this.tail = tail;
    this.hint = hint;
  }
}

export function lastLines(text: string, count: number): string {
  return text.split('\n').slice(-count).join('\n');
}

/** Why a stage's limit may be too short, after "raise `timeouts: <stage>=…`". */
const RAISE_WHEN: Readonly<Record<TimedStage, string>> = {
  install: 'if the tool mirror or the registry of `kaniko-image` is slow',
  build:
    'if the build needs longer (a build that waits for input, e.g. reads a FIFO in the context, never ends)',
  scan: 'if the vulnerability DB download or the scan is slow',
  push: 'if the registry is slow',
};

/**
 * A tool that ran past its stage's time limit and was stopped with every process it started.
 * Not a ToolError: its output says nothing about why it hung, and a retry would wait as long again.
 */
export class ToolTimeoutError extends Error {
  constructor(
    /** The tool as the user knows it, with its subcommand: `crane push`, `trivy image`, … */
    readonly tool: string,
    readonly limit: TimeLimit,
  ) {
    const { stage, ms } = limit;
    super(
      `${tool} timed out after ${formatDuration(ms)} in the ${stage} stage and was stopped with every process it started; ` +
        `raise \`timeouts: ${stage}=…\` ${RAISE_WHEN[stage]}.`,
    );
    this.name = 'ToolTimeoutError';
  }
}
