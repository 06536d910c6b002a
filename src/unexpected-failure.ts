/**
 * The failure path for errors that escape main()'s try/catch: an 'error' event nobody listens to,
 * a throw inside a stream or socket callback, a rejected promise nobody awaits. Without it node
 * exits with a stack trace and the job shows neither an annotation nor a summary.
 */
import { renderFailureSummary } from './report/summary.js';
import { infoUntrusted, reporter } from './reporter.js';

let stage = 'starting';

/** Records what the pipeline is doing, so that an unexpected failure can say where it stopped. */
export function enterStage(description: string): void {
  stage = description;
}

/** Fails the step with an annotation and a summary that name the stage that was running. */
export async function failUnexpectedly(error: unknown, runningStage: string): Promise<void> {
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  // The stack carries the message, which may hold a tool's last lines: relayed, never obeyed.
  if (error instanceof Error && error.stack) infoUntrusted(error.stack);
  const message = `build-scan-push stopped unexpectedly while ${runningStage}: ${detail.trim()}. This is a fault in the action or a library it uses, not in your build: re-run the job, and if it happens again, report it with this log.`;
  reporter().setFailed(message);
  await reporter().writeSummary(renderFailureSummary(message));
}

/**
 * Routes uncaught exceptions and unhandled rejections to failUnexpectedly and exits non-zero;
 * the exit is forced because whatever failed may still hold the event loop open. Only the first
 * one is reported: a second usually follows from the first.
 */
export function exitOnUnexpectedFailure(): void {
  let failing = false;
  const fail = (error: unknown): void => {
    if (failing) return;
    failing = true;
    void failUnexpectedly(error, stage)
      .catch((summaryError: unknown) =>
        reporter().error(`the failure summary could not be written: ${String(summaryError)}`),
      )
      .finally(() => process.exit(1));
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
}
