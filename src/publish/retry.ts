/** Bounded retries with exponential backoff; the clock is injectable so tests do not wait. */

export interface RetryPolicy {
  /** Tries in all, the first included. */
  readonly attempts: number;
  /** Wait before the second try; it doubles for each further try. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly sleep: (ms: number) => Promise<void>;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 4,
  initialDelayMs: 2_000,
  maxDelayMs: 30_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** Milliseconds to wait after failed try number `failedTry` (1-based). */
export function backoffDelay(
  policy: Pick<RetryPolicy, 'initialDelayMs' | 'maxDelayMs'>,
  failedTry: number,
): number {
  return Math.min(policy.initialDelayMs * 2 ** (failedTry - 1), policy.maxDelayMs);
}
