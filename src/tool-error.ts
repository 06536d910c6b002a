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
