/**
 * Relays output the action does not control (the build, a scanner, any tool) to the log as text
 * the runner never obeys. The runner processes a workflow command on any stdout or stderr line
 * that starts with `::` (after spaces) or holds `##[`, so a Dockerfile `RUN echo ::add-mask::…`
 * could mask the verdict, spoof annotations or `::stop-commands::` the action's own.
 *
 * Each batch of relayed lines is fenced on its own, in one write:
 * `::stop-commands::<token>`, the lines, `::<token>::`. Not one fence around a whole tool run:
 * while a fence is open the runner ignores the action's own commands too (warnings, masks,
 * groups), and two relays run at once (the build and the Trivy DB download), so one's close
 * marker would lift the other's fence. A batch written in one synchronous call interleaves with
 * nothing, so no caller has to remember to close a fence before the action speaks. Each relayed
 * stream draws its own token, which the tool never sees: one per stream rather than per batch,
 * because runners add every stop token to their secret masker, which then checks each log line
 * against all of them. Lines stay whole (an unfinished last line waits for its newline or
 * `close()`), so pipe reads do not split the log's lines.
 * Everything goes to stdout: the runner reads stdout and stderr on separate threads, so a fence
 * on one stream does not hold back commands on the other.
 */
import { randomBytes } from 'node:crypto';

/** Where fenced batches go: the process's stdout, or a collector in tests. */
export type LogWriter = (text: Buffer) => void;

const writeToStdout: LogWriter = (text) => {
  process.stdout.write(text);
};

const NEWLINE = 0x0a;
/** A longer unfinished line is relayed as it is: a tool cannot make the action hold its output. */
const LONGEST_HELD_LINE = 64 * 1024;

/** One relayed stream: `write` its chunks as they come, `close` when it ends. */
export class FencedLog {
  readonly #token = randomBytes(32).toString('hex');
  #unfinished = Buffer.alloc(0);

  constructor(private readonly writer: LogWriter = writeToStdout) {}

  write(chunk: Buffer | string): void {
    const pending = Buffer.concat([this.#unfinished, Buffer.from(chunk)]);
    const end = pending.length > LONGEST_HELD_LINE ? pending.length : pending.lastIndexOf(NEWLINE) + 1;
    this.#unfinished = pending.subarray(end);
    this.#relay(pending.subarray(0, end));
  }

  /** Relays the unfinished last line, if any. */
  close(): void {
    const rest = this.#unfinished;
    this.#unfinished = Buffer.alloc(0);
    this.#relay(rest);
  }

  #relay(lines: Buffer): void {
    if (lines.length === 0) return;
    // The close marker must start a line, or the runner would not see it and stay fenced.
    const newline = lines.at(-1) === NEWLINE ? '' : '\n';
    this.writer(
      Buffer.concat([
        Buffer.from(`::stop-commands::${this.#token}\n`),
        lines,
        Buffer.from(`${newline}::${this.#token}::\n`),
      ]),
    );
  }
}
