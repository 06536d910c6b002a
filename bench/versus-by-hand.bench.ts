// The action against the same tools run by hand, side by side in one run: the wall time of
// dist/main.js + dist/post.js (warm tool cache) next to a plain sequence of the same stand-ins
// with no action logic — kaniko in the build sandbox (the real kaniko would need one too: it
// takes over the root it runs in), then `trivy image --download-db-only`, `trivy image --input`,
// `trivy convert` to SARIF, `crane auth login`, `crane push` and one `crane tag` per further tag.
// By hand everything runs one after another, the DB fetch included; the action overlaps the DB
// fetch with the build. The DB fetch is modelled as 0 s and as 2 s (the stand-in Trivy sleeps
// first). The build resembles issue 15's: 2,000 files, 80 MB, four instructions. Runs alternate
// (action first, then by hand first); each figure is the median of five.
// Targets: ratio ≤ 1.00 with a 0 s fetch and ≤ 0.75 with a 2 s fetch.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EXECUTOR_ENV, kanikoArgv } from '../src/build/kaniko-build.js';
import { runInSandbox } from '../src/build/sandbox.js';
import type { ActionHarness } from '../test/helpers/action-harness.js';
import { PASSWORD, standinWrapper, startActionHarness } from '../test/helpers/action-harness.js';
import { CRANE_STANDIN } from '../test/helpers/image-tarball.js';
import { makeTestRoot } from '../test/helpers/rootfs.js';
import { TRIVY_STANDIN } from '../test/helpers/trivy-standin.js';

const RUNS = 5;
const FILES = 2_000;
const TOTAL_BYTES = 80 << 20;
const DOCKERFILE = 'FROM scratch\nCOPY . /\nENV APP_HOME=/srv\nWORKDIR /srv\n';
const TAGS = ['main', 'sha-c0ffee0'];
const DB_REPOSITORY = 'mirror.gcr.io/aquasec/trivy-db:2';
const execute = promisify(execFile);

/** 2,000 files of 40 KiB, half random and half text: about 2:1 under gzip, like a built app. */
function makeContext(dir: string): void {
  writeFileSync(join(dir, 'Dockerfile'), DOCKERFILE);
  writeFileSync(join(dir, 'trivy-standin-report'), 'alpine-310.json\n');
  const size = TOTAL_BYTES / FILES;
  for (let i = 0; i < FILES; i++) {
    const sub = join(dir, 'app', `pkg-${i % 50}`);
    mkdirSync(sub, { recursive: true });
    const text = Buffer.from(`module ${i}: ${'lorem ipsum dolor sit amet '.repeat(size / 54)}`).subarray(
      0,
      size / 2,
    );
    writeFileSync(join(sub, `file-${i}.bin`), Buffer.concat([randomBytes(size / 2), text]));
  }
}

interface ByHand {
  readonly rootfs: string;
  readonly context: string;
  readonly bin: string;
  readonly registry: string;
}

/** The tools one after another, as a script would run them; returns milliseconds. */
async function runByHand(setup: ByHand, repository: string): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'bench-by-hand-'));
  const output = join(work, 'output');
  mkdirSync(output);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, DOCKER_CONFIG: join(work, 'docker') };
  const tool = (name: string, args: string[], input?: string) => {
    const child = execute(join(setup.bin, name), args, { env, cwd: work, maxBuffer: 64 << 20 });
    if (input !== undefined) child.child.stdin?.end(input);
    return child;
  };
  const image = `${setup.registry}/octo-org/${repository}`;
  const started = process.hrtime.bigint();
  const built = await runInSandbox({
    rootfs: setup.rootfs,
    tempDir: join(work, 'sandbox'),
    argv: [
      '/kaniko/executor',
      ...kanikoArgv({
        dockerfile: '/workspace/Dockerfile',
        image,
        firstTag: TAGS[0]!,
        buildArgs: [],
        labels: {},
        target: '',
        platform: { os: 'linux', architecture: 'amd64' },
        reproducible: true,
        insecureRegistries: [],
        proxy: [],
        extraArgs: [],
      }),
    ],
    env: EXECUTOR_ENV,
    mounts: [
      { source: setup.context, target: '/workspace', readOnly: true },
      { source: output, target: '/output', readOnly: false },
    ],
    title: 'kaniko by hand',
  });
  if (built.exitCode !== 0) throw new Error(`kaniko by hand failed:\n${built.tail}`);
  const cache = join(work, 'trivy-cache');
  await tool('trivy', [
    'image',
    '--download-db-only',
    '--cache-dir',
    cache,
    '--db-repository',
    DB_REPOSITORY,
  ]);
  const tarball = join(output, 'image.tar');
  const report = join(work, 'report.json');
  const scanFlags = ['--format', 'json', '--output', report];
  await tool('trivy', ['image', '--input', tarball, ...scanFlags, '--cache-dir', cache, '--skip-db-update']);
  await tool('trivy', ['convert', '--format', 'sarif', '--output', join(work, 'report.sarif'), report]);
  await tool('crane', ['auth', 'login', setup.registry, '-u', 'octocat', '--password-stdin'], PASSWORD);
  await tool('crane', ['push', '--insecure', tarball, `${image}:${TAGS[0]}`]);
  for (const tag of TAGS.slice(1)) await tool('crane', ['tag', '--insecure', `${image}:${TAGS[0]}`, tag]);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  rmSync(work, { recursive: true, force: true });
  return elapsed;
}

async function runAction(harness: ActionHarness, context: string): Promise<number> {
  const run = await harness.runAction({
    report: 'alpine-310.json',
    dockerfile: DOCKERFILE,
    contextFiles: context,
  });
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
  const bin = mkdtempSync(join(tmpdir(), 'bench-by-hand-bin-'));
  try {
    for (const [name, script] of [
      ['trivy', TRIVY_STANDIN],
      ['crane', CRANE_STANDIN],
    ] as const) {
      writeFileSync(join(bin, name), standinWrapper(name, script, { dbFetchSeconds }));
      chmodSync(join(bin, name), 0o755);
    }
    const setup: ByHand = { rootfs, context, bin, registry: harness.proxy.host };
    // Both warm: the tool cache filled, the context in the page cache.
    await runAction(harness, context);
    await runByHand(setup, 'by-hand');
    const action: number[] = [];
    const byHand: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      if (i % 2 === 0) action.push(await runAction(harness, context));
      byHand.push(await runByHand(setup, 'by-hand'));
      if (i % 2 === 1) action.push(await runAction(harness, context));
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
