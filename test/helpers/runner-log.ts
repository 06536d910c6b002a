import { vi } from 'vitest';

/** Lines a hostile build or tool might print, each a workflow command if the runner obeyed it. */
export const HOSTILE = [
  '::add-mask::policy failed',
  '::error file=Dockerfile,line=1::spoofed',
  '  ::warning::indented still counts',
  'text then ##[add-mask]old-style command anywhere in a line',
  '::stop-commands::guessed',
  '::guessed::',
].join('\n');

/**
 * The commands a GitHub runner would process in this stdout, as actions/runner does: lines end
 * at \n, \r or \r\n; `::name …::` after leading spaces or `##[name …]` anywhere in the line; while
 * `::stop-commands::<token>` is in force, nothing but `::<token>::` counts. Fence markers are
 * left out: what remains is what the log made the runner do.
 */
export function runnerCommands(log: string): string[] {
  const processed: string[] = [];
  let stopToken: string | undefined;
  for (const line of log.split(/\r\n|\r|\n/)) {
    const name = /^\s*::([^\s:]+)[^:]*::/.exec(line)?.[1] ?? /##\[([^\s\]]+)/.exec(line)?.[1];
    if (name === undefined) continue;
    if (stopToken !== undefined) {
      if (name === stopToken) stopToken = undefined;
    } else if (name === 'stop-commands') stopToken = line.slice(line.indexOf('::', 2) + 2);
    else processed.push(line);
  }
  return processed;
}

/** Everything written to stdout from now until the mocks are restored. */
export function captureStdout(): string[] {
  const written: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(Buffer.from(chunk).toString('utf8'));
    return true;
  });
  return written;
}
