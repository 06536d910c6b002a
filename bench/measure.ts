/** Small helpers shared by the benchmarks: repeated timing with a median, and peak memory. */

export interface Timing {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
}

/** Runs `task` `runs` times (after `warmup` unmeasured runs) and returns milliseconds. */
export async function time(task: () => Promise<unknown> | unknown, runs = 7, warmup = 1): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await task();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await task();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)]!, min: samples[0]!, max: samples.at(-1)!, runs };
}

export function formatTiming(label: string, timing: Timing, target?: number): string {
  const verdict =
    target === undefined
      ? ''
      : timing.median <= target
        ? `  (target ≤ ${target} ms: met)`
        : `  (target ≤ ${target} ms: MISSED)`;
  return `${label.padEnd(48)} median ${timing.median.toFixed(1).padStart(8)} ms  min ${timing.min.toFixed(1)}  max ${timing.max.toFixed(1)}  runs ${timing.runs}${verdict}`;
}

/** Peak resident set size of this process so far, in MiB. */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}
