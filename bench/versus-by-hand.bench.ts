// The action against the same tools run by hand, side by side in one run: the wall time of
// dist/main.js + dist/post.js (warm tool cache) next to a plain sequence of the same stand-ins
// with no action logic — kaniko in the build sandbox (the real kaniko would need one too: it
// takes over the root it runs in), then `trivy image --download-db-only`, `trivy image --input`,
// `trivy convert` to SARIF, `crane auth login`, `crane push` and one `crane tag` per further tag.
// By hand everything runs one after another, the DB fetch included; the action overlaps the DB
// fetch with the build. The DB fetch is modelled as 0 s and as 2 s (the stand-in Trivy sleeps
// first). The build resembles issue 15's: 2,000 files, 80 MB, four instructions. Runs alternate
// (action first, then by hand first); each figure is the median of five. Every run, on either
// side, pushes to a repository of its own: the layer blob is uploaded each time, as a new build's
// would be (a repository that already holds the blob turns crane's upload into a HEAD, and one
// side only would be timed without it). Each run starts with nothing waiting to be written to
// disk (sync before the clock starts) and removes what it wrote after it stops.
// Targets: ratio ≤ 1.00 with a 0 s fetch and ≤ 0.75 with a 2 s fetch.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ActionHarness } from '../test/helpers/action-harness.js';
import { startActionHarness } from '../test/helpers/action-harness.js';
import { makeTestRoot } from '../test/helpers/rootfs.js';
import type { ByHand } from './by-hand.js';
import { DOCKERFILE, FILES, TOTAL_BYTES, byHandBin, makeContext, runByHand } from './by-hand.js';

const RUNS = 5;

async function runAction(harness: ActionHarness, context: string, repository: string): Promise<number> {
  const run = await harness.runAction({
    report: 'alpine-310.json',
    dockerfile: DOCKERFILE,
    contextFiles: context,
    inputs: { image: `${harness.proxy.host}/octo-org/${repository}` },
    settled: true,
  });
  // Gone before the next run, as the by-hand run's own folder is: neither side writes back the other's files.
  rmSync(dirname(run.workspace), { recursive: true, force: true });
  if (run.exitCode !== 0 || run.postExitCode !== 0) throw new Error(`the action failed:\n${run.stdout}`);
  return run.wallMs;
}

const median = (values: readonly number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** One DB-fetch model: a warm-up of each, then RUNS alternating pairs. */
async function compare(
  dbFetchSeconds: number,
  context: string,
  rootfs: string,
  target: number,
): Promise<void> {
  const harness = await startActionHarness({ dbFetchSeconds });
  const bin = byHandBin(dbFetchSeconds);
  try {
    const setup: ByHand = { rootfs, context, bin, registry: harness.proxy.host };
    // Both warm: the tool cache filled, the context in the page cache.
    await runAction(harness, context, 'action-warm-up');
    await runByHand(setup, 'by-hand-warm-up');
    const action: number[] = [];
    const byHand: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      if (i % 2 === 0) action.push(await runAction(harness, context, `action-${i}`));
      byHand.push(await runByHand(setup, `by-hand-${i}`));
      if (i % 2 === 1) action.push(await runAction(harness, context, `action-${i}`));
    }
    const ratio = median(action) / median(byHand);
    console.log(
      `DB fetch ${dbFetchSeconds} s: action ${median(action).toFixed(0).padStart(6)} ms  by hand ${median(byHand).toFixed(0).padStart(6)} ms  ` +
        `difference ${(median(action) - median(byHand)).toFixed(0).padStart(5)} ms  ratio ${ratio.toFixed(2)}  ` +
        `(target ≤ ${target.toFixed(2)}: ${ratio <= target ? 'met' : 'MISSED'})`,
    );
    console.log(`  action runs  ${action.map((ms) => ms.toFixed(0)).join(' ')}`);
    console.log(`  by-hand runs ${byHand.map((ms) => ms.toFixed(0)).join(' ')}`);
  } finally {
    await harness.stop();
    rmSync(bin, { recursive: true, force: true });
  }
}

const context = mkdtempSync(join(tmpdir(), 'bench-context-'));
const rootfs = makeTestRoot();
// The sandbox's group lines and the relayed build output would flood the figures.
const write = process.stdout.write.bind(process.stdout);
const quietly = async (task: () => Promise<void>): Promise<void> => {
  const lines: string[] = [];
  process.stdout.write = ((chunk: string | Uint8Array) => {
    const text = chunk.toString();
    if (text.startsWith('DB fetch') || text.startsWith('  action') || text.startsWith('  by-hand'))
      lines.push(text);
    return true;
  }) as typeof process.stdout.write;
  try {
    await task();
  } finally {
    process.stdout.write = write;
    for (const line of lines) write(line);
  }
};
try {
  makeContext(context);
  console.log(
    `build: ${FILES} files, ${TOTAL_BYTES >> 20} MiB, ${DOCKERFILE.trim().split('\n').length} instructions; median of ${RUNS}`,
  );
  await quietly(() => compare(0, context, rootfs, 1.0));
  await quietly(() => compare(2, context, rootfs, 0.75));
} finally {
  rmSync(context, { recursive: true, force: true });
  rmSync(rootfs, { recursive: true, force: true });
}
