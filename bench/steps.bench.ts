// Where the action's wall time goes, step by step, in the versus bench's scenario (2,000 files,
// 80 MB, four instructions, DB fetch modelled as 0 s): warm runs of dist/main.js + dist/post.js
// with every line of the log stamped as it arrives, and every Trivy and crane process (the
// stand-ins, behind wrappers that note when each started and ended) on the same clock; one
// timeline per run. STEPS_RUNS runs (3); STEPS_DB_FETCH seconds of modelled DB fetch (0);
// STEPS_BY_HAND=1 runs the versus bench's by-hand sequence before each action run, as that bench
// alternates them, and prints its timeline too; STEPS_CPU_PROFILE=<dir> writes a CPU profile of
// each main and post run there; STEPS_INPUTS='{"sbom":"none"}' adds inputs. Each run pushes to a repository of its own, as in
// the versus bench.
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCommandFile, runnerEnvironment, startActionHarness } from '../test/helpers/action-harness.js';
import type { ActionHarness } from '../test/helpers/action-harness.js';
import { CRANE_STANDIN } from '../test/helpers/image-tarball.js';
import { makeTestRoot } from '../test/helpers/rootfs.js';
import { TRIVY_STANDIN } from '../test/helpers/trivy-standin.js';
import type { ByHand } from './by-hand.js';
import { DOCKERFILE, byHandBin, makeContext, runByHand } from './by-hand.js';

const REPO = resolve(import.meta.dirname, '..');
const RUNS = Number(process.env.STEPS_RUNS ?? 3);
const DB_FETCH_SECONDS = Number(process.env.STEPS_DB_FETCH ?? 0);
const BY_HAND = process.env.STEPS_BY_HAND === '1';
const PROFILE_DIR = process.env.STEPS_CPU_PROFILE;
const EXTRA_INPUTS = JSON.parse(process.env.STEPS_INPUTS ?? '{}') as Record<string, string>;
const nodeFlags = PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [];

/** A stand-in behind a wrapper that logs `start-ns end-ns tool args…` to `log` (epoch nanoseconds). */
function loggingWrapper(tool: string, script: string, log: string): string {
  return [
    '#!/bin/sh',
    `# Stand-in wrapper (not the real ${tool}) that notes when each run started and ended.`,
    ...(DB_FETCH_SECONDS
      ? [`case " $* " in *" --download-db-only "*) sleep ${DB_FETCH_SECONDS} ;; esac`]
      : []),
    'start=$(date +%s%N)',
    `"${process.execPath}" "${script}" "$@"`,
    'code=$?',
    `echo "$start $(date +%s%N) ${tool} $1 $2" >> "${log}"`,
    'exit $code',
    '',
  ].join('\n');
}

/** Replaces the cached trivy and crane of the harness's tool cache with logging wrappers. */
function instrumentToolCache(toolCache: string, log: string): void {
  for (const [tool, script] of [
    ['trivy', TRIVY_STANDIN],
    ['crane', CRANE_STANDIN],
  ] as const) {
    const versions = join(toolCache, tool);
    for (const version of readdirSync(versions))
      for (const arch of readdirSync(join(versions, version))) {
        const path = join(versions, version, arch, tool);
        try {
          writeFileSync(path, loggingWrapper(tool, script, log));
          chmodSync(path, 0o755);
        } catch {
          // the `.complete` markers beside the folders
        }
      }
  }
}

/** Dirty pages (data written, not yet on disk), from /proc/meminfo: what a flush would write. */
function dirtyMemory(): string {
  return /^Dirty:\s+(\d+ kB)$/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? '?';
}

interface Event {
  readonly ms: number;
  readonly what: string;
}

/** One action run like ActionHarness.runAction, but with its log stamped line by line. */
async function timedRun(
  harness: ActionHarness,
  context: string,
  toolLog: string,
  repository: string,
): Promise<Event[]> {
  const top = mkdtempSync(join(tmpdir(), 'bsp-steps-'));
  const workspace = join(top, 'workspace');
  const runnerTemp = join(top, 'runner-temp');
  const files = join(top, 'runner-files');
  for (const dir of [workspace, runnerTemp, files]) mkdirSync(dir);
  cpSync(context, workspace, { recursive: true });
  writeFileSync(join(files, 'event.json'), '{}');
  for (const name of ['output', 'state', 'summary']) writeFileSync(join(files, name), '');
  writeFileSync(toolLog, '');
  const env = runnerEnvironment({
    folders: { top, workspace, runnerTemp, files },
    event: { name: 'push', ref: 'refs/heads/main' },
    apiUrl: harness.api.url,
    toolCache: harness.toolCache,
    inputs: { image: `${harness.proxy.host}/octo-org/${repository}`, ...harness.toolInputs, ...EXTRA_INPUTS },
  });
  harness.proxy.reset();
  // As in the versus bench: the workspace on disk before the clock starts.
  execFileSync('sync');

  const events: Event[] = [];
  const t0 = Date.now();
  const stamp = (what: string) => events.push({ ms: Date.now() - t0, what });
  stamp(`main starts (${dirtyMemory()} of dirty pages waiting to be written)`);
  const exitCode = await new Promise<number>((done, fail) => {
    const child = spawn(process.execPath, [...nodeFlags, join(REPO, 'dist', 'main.js')], {
      env,
      cwd: workspace,
    });
    let pending = '';
    let inGroup = false;
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        // Inside the build's group, only its start and end (the build's own lines are many).
        if (line.startsWith('::group::')) inGroup = true;
        if (line.startsWith('::endgroup::')) {
          inGroup = false;
          stamp('log: ::endgroup:: (sandbox done)');
          continue;
        }
        if (inGroup && !line.startsWith('::group::')) {
          // eslint-disable-next-line no-control-regex
          const plain = line.replace(/\x1b\[[0-9;]*m/g, '');
          if (plain.includes('INFO[') || plain.startsWith('TIMING')) stamp(`build: ${plain.slice(0, 80)}`);
          continue;
        }
        if (line.trim()) stamp(`log: ${line.slice(0, 110)}`);
      }
    });
    child.stderr.resume();
    child.on('error', fail);
    child.on('close', (code) => done(code ?? 1));
  });
  stamp(`main exits (${exitCode}; ${dirtyMemory()} dirty)`);
  const state: Record<string, string> = {};
  for (const [name, value] of Object.entries(readCommandFile(join(files, 'state'))))
    state[`STATE_${name}`] = value;
  await new Promise<void>((done) => {
    const post = spawn(process.execPath, [...nodeFlags, join(REPO, 'dist', 'post.js')], {
      env: { ...env, ...state },
      cwd: workspace,
      stdio: 'ignore',
    });
    post.on('close', () => done());
  });
  stamp('post exits');
  events.push(...toolEvents(toolLog, t0));
  rmSync(top, { recursive: true, force: true });
  if (exitCode !== 0) throw new Error('the action failed');
  return events.sort((a, b) => a.ms - b.ms);
}

/** The start and end of each tool process a logging wrapper noted, in ms since `t0`. */
function toolEvents(toolLog: string, t0: number): Event[] {
  return readFileSync(toolLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      const [start, end, ...what] = line.split(' ');
      const startMs = Number(BigInt(start!) / 1_000_000n) - t0;
      const endMs = Number(BigInt(end!) / 1_000_000n) - t0;
      return [
        { ms: startMs, what: `  ┌ ${what.join(' ')}` },
        { ms: endMs, what: `  └ ${what.join(' ')} (${endMs - startMs} ms)` },
      ];
    });
}

/**
 * The by-hand sequence with its tools behind logging wrappers, as a timeline from its clock's
 * start (after the sync that precedes it).
 */
async function timedByHand(setup: ByHand, toolLog: string, repository: string): Promise<Event[]> {
  writeFileSync(toolLog, '');
  let built = 0;
  // The sandbox relays the build's output; only the timeline is wanted here.
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  const ms = await runByHand(setup, repository, () => (built = Date.now())).finally(
    () => (process.stdout.write = write),
  );
  const start = Date.now() - Math.round(ms);
  return [
    { ms: 0, what: 'by hand starts: kaniko in the sandbox' },
    { ms: built - start, what: 'sandbox done' },
    { ms: Math.round(ms), what: 'by hand ends' },
    ...toolEvents(toolLog, start),
  ].sort((a, b) => a.ms - b.ms);
}

function printTimeline(title: string, events: readonly Event[]): void {
  console.log(`\n${title}: ms since start, gap to previous`);
  let previous = 0;
  for (const event of events) {
    console.log(`${String(event.ms).padStart(6)} ${`+${event.ms - previous}`.padStart(6)}  ${event.what}`);
    previous = event.ms;
  }
}

const context = mkdtempSync(join(tmpdir(), 'bench-steps-context-'));
const toolLog = join(tmpdir(), `bsp-steps-tools-${process.pid}.log`);
const harness = await startActionHarness({ dbFetchSeconds: DB_FETCH_SECONDS });
const rootfs = makeTestRoot();
const bin = byHandBin(DB_FETCH_SECONDS, (tool, script) => loggingWrapper(tool, script, toolLog));
try {
  makeContext(context);
  // Warm: the tool cache filled (then instrumented), the context in the page cache.
  await harness.runAction({ report: 'alpine-310.json', dockerfile: DOCKERFILE, contextFiles: context });
  instrumentToolCache(harness.toolCache, toolLog);
  for (let run = 0; run < RUNS; run++) {
    if (BY_HAND) {
      const setup = { rootfs, context, bin, registry: harness.proxy.host };
      printTimeline(`by hand before run ${run + 1}`, await timedByHand(setup, toolLog, `by-hand-${run}`));
    }
    const events = await timedRun(harness, context, toolLog, `action-${run}`);
    printTimeline(`run ${run + 1} (DB fetch ${DB_FETCH_SECONDS} s)`, events);
  }
} finally {
  await harness.stop();
  for (const path of [context, toolLog, rootfs, bin]) rmSync(path, { recursive: true, force: true });
}
