// Several platforms: the wall time of one action run building linux/amd64 and linux/arm64 (arm64's
// RUN line under QEMU) against two single-platform runs one after the other, side by side, order
// alternating, median of five; then the matrix's merge step alone (its two push-by-digest jobs
// run first, unmeasured). Goal: the two-platform run is not slower than the two runs. The base is
// a real busybox index in the loopback registry; the tools are the stand-ins, warm.
import { startActionHarness } from '../test/helpers/action-harness.js';
import type { Scenario } from '../test/helpers/action-harness.js';
import { pushBusyboxPlatformIndex } from '../test/helpers/busybox-platform-index.js';

const RUNS = 5;
const harness = await startActionHarness();
const median = (values: readonly number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
try {
  const base = await pushBusyboxPlatformIndex({
    registry: harness.registry.host,
    repository: 'base/busybox',
  });
  let repository = 0;
  const scenario = (inputs: Record<string, string>): Scenario => ({
    report: 'alpine-310.json',
    dockerfile: `FROM ${base.reference}\nRUN uname -m > /built-on && ls /bin > /bin-list\nCOPY . /app/\n`,
    inputs: {
      image: `${harness.proxy.host}/bench/platforms-${++repository}`,
      'build-loopback-ports': harness.registry.host.split(':')[1]!,
      ...inputs,
    },
  });
  const wall = async (inputs: Record<string, string>): Promise<number> => {
    const run = await harness.runAction(scenario(inputs));
    if (run.exitCode !== 0) throw new Error(`the action failed:\n${run.stdout}`);
    return run.wallMs;
  };
  const together = () => wall({ platforms: 'linux/amd64,linux/arm64' });
  const apart = async () =>
    (await wall({ platforms: 'linux/amd64' })) + (await wall({ platforms: 'linux/arm64' }));

  await together(); // fills the tool cache
  const one: number[] = [];
  const two: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    if (i % 2 === 0) {
      one.push(await together());
      two.push(await apart());
    } else {
      two.push(await apart());
      one.push(await together());
    }
  }
  const ratio = median(one) / median(two);
  console.log(
    `two platforms in one run (wall, main + post)       median ${median(one).toFixed(0).padStart(6)} ms  runs ${RUNS}`,
  );
  console.log(
    `two single-platform runs, one after the other      median ${median(two).toFixed(0).padStart(6)} ms  runs ${RUNS}`,
  );
  console.log(
    `ratio one run / two runs                           ${ratio.toFixed(2)}  (goal ≤ 1.00: ${ratio <= 1 ? 'met' : 'MISSED'})`,
  );

  const merges: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const image = `${harness.proxy.host}/bench/matrix-${i}`;
    const digests: string[] = [];
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const job = await harness.runAction(scenario({ image, platforms: platform, 'push-by-digest': 'true' }));
      if (job.exitCode !== 0) throw new Error(`a push-by-digest job failed:\n${job.stdout}`);
      digests.push(job.outputs.digest!);
    }
    const merge = await harness.runAction({
      report: 'alpine-310.json',
      inputs: { image, 'merge-digests': digests.join('\n') },
    });
    if (merge.exitCode !== 0) throw new Error(`the merge failed:\n${merge.stdout}`);
    merges.push(merge.wallMs);
  }
  console.log(
    `merge step (merge-digests of two, main + post)     median ${median(merges).toFixed(0).padStart(6)} ms  min ${Math.min(...merges).toFixed(0)}  max ${Math.max(...merges).toFixed(0)}  runs ${RUNS}`,
  );
} finally {
  await harness.stop();
}
