import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import type { OutputName, RelayedStream, Reporter } from './reporter.js';

export interface TerminalReporterOptions {
  /** Where `outputs.txt` and `summary.md` go. */
  readonly outputDir: string;
  /** Shows debug lines (RUNNER_DEBUG=1). */
  readonly debug?: boolean;
  /** Where text goes; the process's stdout by default. */
  readonly write?: (text: string) => void;
}

/**
 * The local runner's reporter: what a person at a terminal should see of a run. Errors and
 * warnings as words, groups as headings, debug lines only when asked, secrets replaced by ***
 * in everything shown, tool output as the plain text it is (a terminal obeys no workflow
 * command), and the outputs and summary as files, in the runner's formats.
 */
export function terminalReporter(options: TerminalReporterOptions): Reporter {
  const secrets = new Set<string>();
  const state = new Map<string, string>();
  const print = options.write ?? ((text: string) => void process.stdout.write(text));
  const masked = (text: string): string =>
    [...secrets].reduce((shown, secret) => shown.split(secret).join('***'), text);
  const line = (text: string): void => print(`${masked(text)}\n`);
  return {
    info: (message) => line(message),
    warning: (message) => line(`Warning: ${message}`),
    error: (message, annotation) => {
      const where = annotation?.file
        ? `${annotation.file}${annotation.startLine ? `:${annotation.startLine}` : ''}: `
        : '';
      line(`Error: ${where}${message}`);
    },
    debug: (message) => {
      if (options.debug) line(`debug: ${message}`);
    },
    startGroup: (title) => line(`▶ ${title}`),
    endGroup: () => undefined,
    setSecret: (secret) => {
      if (secret) secrets.add(secret);
    },
    saveState: (name, value) => void state.set(name, value),
    relayStream: (): RelayedStream => ({
      write: (chunk) => print(masked(chunk.toString())),
      close: () => undefined,
    }),
    setOutput: (name: OutputName, value) => {
      // The runner's file-command format, so a script can read outputs.txt the same way.
      const delimiter = `ghadelimiter_${randomBytes(8).toString('hex')}`;
      appendFileSync(`${options.outputDir}/outputs.txt`, `${name}<<${delimiter}\n${value}\n${delimiter}\n`);
    },
    writeSummary: async (html) => appendFileSync(`${options.outputDir}/summary.md`, `${html}\n`),
    setFailed: (message) => {
      line(`Error: ${message}`);
      process.exitCode = 1;
    },
  };
}
