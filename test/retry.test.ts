import { describe, expect, it } from 'vitest';
import { backoffDelay, withRetry } from '../src/retry.js';

class Transient extends Error {}

function recorder() {
  const delays: number[] = [];
  return { delays, sleep: async (ms: number) => void delays.push(ms) };
}

describe('withRetry', () => {
  it('retries transient errors with doubling, capped delays and then succeeds', async () => {
    const { delays, sleep } = recorder();
    const retried: number[] = [];
    const result = await withRetry(
      async (attempt) => {
        if (attempt < 4) throw new Transient(`try ${attempt}`);
        return attempt;
      },
      {
        attempts: 5,
        initialDelayMs: 100,
        maxDelayMs: 300,
        isTransient: (error) => error instanceof Transient,
        onRetry: (_error, failedAttempt) => retried.push(failedAttempt),
        sleep,
      },
    );
    expect(result).toBe(4);
    expect(delays).toEqual([100, 200, 300]);
    expect(retried).toEqual([1, 2, 3]);
  });

  it('rethrows a permanent error at once, unchanged', async () => {
    const { delays, sleep } = recorder();
    const permanent = new Error('404');
    await expect(
      withRetry(() => Promise.reject(permanent), {
        attempts: 3,
        initialDelayMs: 1,
        isTransient: (error) => error instanceof Transient,
        sleep,
      }),
    ).rejects.toBe(permanent);
    expect(delays).toEqual([]);
  });

  it('rethrows the last transient error when the attempts are spent', async () => {
    const { delays, sleep } = recorder();
    let calls = 0;
    const error = await withRetry(() => Promise.reject(new Transient(`try ${++calls}`)), {
      attempts: 3,
      initialDelayMs: 10,
      isTransient: () => true,
      sleep,
    }).catch((caught: unknown) => caught);
    expect((error as Error).message).toBe('try 3');
    expect(delays).toEqual([10, 20]);
  });
});

describe('backoffDelay', () => {
  it('doubles from the initial delay and is unbounded without a cap', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay({ initialDelayMs: 1000 }, n))).toEqual([
      1000, 2000, 4000, 8000,
    ]);
    expect(backoffDelay({ initialDelayMs: 2000, maxDelayMs: 30_000 }, 6)).toBe(30_000);
  });
});
