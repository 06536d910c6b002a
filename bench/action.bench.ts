// End-to-end overhead of the action: wall time of dist/main.js + dist/post.js, minus the time
// spent inside the three tools (the stand-ins' own run time, noted by their wrappers), with a
// warm tool cache, as on a runner's second job. Target: under one second.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EXECUTOR_TIME_FILE, startActionHarness } from '../test/helpers/action-harness.js';

const RUNS = 7;
const timeLog = join(tmpdir(), `bsp-bench-tool-times-${process.pid}.log`);
writeFileSync(timeLog, '');
const harness = await startActionHarness({ timeLog });
try {
  // The first run fills the tool cache; every measured run is warm.
  await harness.runAction({ report: 'alpine-310.json' });
  const overheads: number[] = [];
  const walls: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    writeFileSync(timeLog, '');
    const run = await harness.runAction({ report: 'alpine-310.json' });
    if (run.exitCode !== 0) throw new Error(`the action failed:\n${run.stdout}`);
    const toolNs = readFileSync(timeLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .reduce((sum, line) => sum + Number(line.split(' ')[1]), 0);
    const executorCs = Number(readFileSync(join(dirname(run.outputs.tarball!), EXECUTOR_TIME_FILE), 'utf8'));
    const toolMs = toolNs / 1e6 + executorCs * 10;
    walls.push(run.wallMs);
    overheads.push(run.wallMs - toolMs);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const overhead = median(overheads);
  console.log(
    `action wall time (main + post, warm)               median ${median(walls).toFixed(0).padStart(6)} ms  runs ${RUNS}`,
  );
  console.log(
    `action overhead (wall minus time inside the tools)  median ${overhead.toFixed(0).padStart(6)} ms  min ${Math.min(...overheads).toFixed(0)}  max ${Math.max(...overheads).toFixed(0)}  (target ≤ 1000 ms: ${overhead <= 1000 ? 'met' : 'MISSED'})`,
  );
} finally {
  await harness.stop();
  rmSync(timeLog, { force: true });
}
