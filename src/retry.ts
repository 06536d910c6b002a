/**
 * Bounded retries with exponential backoff, the one retry loop of the action (downloads, registry
 * requests, code-scanning requests). The clock is injectable so tests do not wait.
 */

export interface RetryOptions {
  /** Tries in all, the first included. */
  readonly attempts: number;
  /** Wait before the second try; it doubles for each further try. */
  readonly initialDelayMs: number;
  /** Upper bound of one wait; unbounded when absent. */
  readonly maxDelayMs?: number;
  /** Whether another try may succeed; any other error ends the loop at once. */
  readonly isTransient: (error: unknown) => boolean;
  /** Called before each wait, e.g. to log a warning. */
  readonly onRetry?: (error: unknown, failedAttempt: number, delayMs: number) => void;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Milliseconds to wait after failed try number `failedAttempt` (1-based). */
export function backoffDelay(
  options: Pick<RetryOptions, 'initialDelayMs' | 'maxDelayMs'>,
  failedAttempt: number,
): number {
  return Math.min(options.initialDelayMs * 2 ** (failedAttempt - 1), options.maxDelayMs ?? Infinity);
}

/**
 * Calls `task` until it resolves, it throws an error that is not transient, or the attempts are
 * spent. The last error is rethrown unchanged: a transient error that escapes means the attempts
 * ran out, which callers word as such.
 */
export async function withRetry<T>(task: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await task(attempt);
    } catch (error) {
      if (attempt >= options.attempts || !options.isTransient(error)) throw error;
      const delay = backoffDelay(options, attempt);
      options.onRetry?.(error, attempt, delay);
      await (options.sleep ?? sleep)(delay);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
