import * as core from '@actions/core';
import { FencedLog } from './log-fence.js';

/** The action's outputs, as action.yml declares them (a test holds the two equal). */
export const OUTPUT_NAMES = [
  'digest',
  'platform-digests',
  'platform-results',
  'image',
  'tags',
  'pushed',
  'policy',
  'vulnerabilities',
  'critical',
  'high',
  'medium',
  'low',
  'secrets',
  'licenses',
  'tarball',
  'report',
  'sarif',
  'sbom',
  'vulnerability-predicate',
  'vulnerability-predicate-type',
  'base-updated',
] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];

/** One stream of output the action does not control (a tool's, the build's). */
export interface RelayedStream {
  write(chunk: Buffer | string): void;
  /** Relays what is left; the stream is done. */
  close(): void;
}

/**
 * Where the action speaks: the runner's log and workflow commands, or a terminal (the local
 * runner). Every module logs through `reporter()`; only the runner's reporter touches
 * @actions/core's outputs and status.
 */
export interface Reporter {
  info(message: string): void;
  warning(message: string): void;
  /** An error annotation, placed on a file's line when `annotation` names one. */
  error(message: string, annotation?: Annotation): void;
  debug(message: string): void;
  startGroup(title: string): void;
  endGroup(): void;
  /** Hides a value wherever it would be shown. */
  setSecret(secret: string): void;
  /** Keeps a value for the post step. */
  saveState(name: string, value: string): void;
  /** A stream for output the action does not control, shown as text that commands nothing. */
  relayStream(): RelayedStream;
  setOutput(name: OutputName, value: string): void;
  /** Adds HTML/Markdown to the job summary. */
  writeSummary(html: string): Promise<void>;
  /** Marks the step failed with this message. */
  setFailed(message: string): void;
}

/**
 * Where an error annotation points, as @actions/core's AnnotationProperties: a repository path and
 * its line, and a title. core escapes the message and every property (`%`, CR, LF, and `:` and
 * `,` in properties), so a value cannot end the command or start another.
 */
export interface Annotation {
  readonly file?: string;
  readonly startLine?: number;
  readonly title?: string;
}

/** The runner's reporter: @actions/core, with relayed output fenced (log-fence.ts). */
export const runnerReporter: Reporter = {
  info: (message) => core.info(message),
  warning: (message) => core.warning(message),
  error: (message, annotation) => core.error(message, { ...annotation }),
  debug: (message) => core.debug(message),
  startGroup: (title) => core.startGroup(title),
  endGroup: () => core.endGroup(),
  setSecret: (secret) => core.setSecret(secret),
  saveState: (name, value) => core.saveState(name, value),
  relayStream: () => new FencedLog(),
  setOutput: (name, value) => core.setOutput(name, value),
  writeSummary: async (html) => {
    // Outside a workflow (a test, a script) there is no summary file to write.
    if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(html, true).write();
  },
  setFailed: (message) => core.setFailed(message),
};

let active: Reporter = runnerReporter;

/** The reporter this process speaks through. */
export function reporter(): Reporter {
  return active;
}

/** Chooses where this process speaks (the local runner chooses its terminal). */
export function useReporter(chosen: Reporter): void {
  active = chosen;
}

/** `stdout` and `stderr` listeners, one per stream, as exec.run relays a child. */
export interface OutputListeners {
  readonly stdout: (data: Buffer) => void;
  readonly stderr: (data: Buffer) => void;
}

/**
 * Runs `work` with listeners that relay a child's stdout and stderr through the reporter (fenced
 * on a runner), each stream's lines kept whole, and relays what is left once `work` settles.
 */
export async function relayOutput<T>(work: (listeners: OutputListeners) => Promise<T>): Promise<T> {
  const stdout = active.relayStream();
  const stderr = active.relayStream();
  try {
    return await work({ stdout: (data) => stdout.write(data), stderr: (data) => stderr.write(data) });
  } finally {
    stdout.close();
    stderr.close();
  }
}

/**
 * Logs a line of the action's that carries text it does not control (paths from the build
 * context, names from a report) as relayed output, so that text cannot issue a workflow command.
 */
export function infoUntrusted(message: string): void {
  const stream = active.relayStream();
  stream.write(`${message}\n`);
  stream.close();
}
