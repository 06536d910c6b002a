import * as core from '@actions/core';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { recordForCleanup, removeInBackground, removePath } from '../cleanup.js';
import { ToolTimeoutError, lastLines, run } from '../exec.js';
import type { TimeLimit } from '../timeout-settings.js';
import type { SandboxMount } from './runtime-spec.js';
import { runtimeSpec } from './runtime-spec.js';
import { sandboxSeccompProfile } from './seccomp.js';
import type { SandboxNetwork, SandboxNetworkMode } from './sandbox-network.js';
import { connectSandboxNetwork } from './sandbox-network.js';
import launchScript from './sandbox-launch.sh';
import { relayOutput, reporter } from '../reporter.js';

export type { SandboxMount } from './runtime-spec.js';
export { SANDBOX_CAPABILITIES } from './runtime-spec.js';

/** A file placed in the sandbox before the program starts. */
export interface SandboxFile {
  /** Absolute path inside the sandbox. */
  readonly target: string;
  readonly content: string | Buffer;
  /** File mode; 0o644 unless given. */
  readonly mode?: number;
  /**
   * Bind it read-only instead of writing it into the root, the way container engines provide
   * /etc/resolv.conf and /etc/hosts: programs that snapshot the root (kaniko) skip mount points,
   * so the runner's copies never end up in an image.
   */
  readonly asMount?: boolean;
}

/** How the throw-away root is made: an overlay over the cached root, or a full copy of it. */
export type RootStrategy = 'overlay' | 'copy';

export interface SandboxSpec {
  /** Root filesystem to run in; it is the read-only lower layer and is never written. */
  readonly rootfs: string;
  /** Parent folder (under RUNNER_TEMP) for this run's private work folder. */
  readonly tempDir: string;
  /** argv[0] is a path inside the sandbox. */
  readonly argv: readonly string[];
  /** The program's whole environment; nothing of the host's is passed on. */
  readonly env: Readonly<Record<string, string>>;
  readonly mounts?: readonly SandboxMount[];
  readonly files?: readonly SandboxFile[];
  /** Title of the collapsible log group. */
  readonly title: string;
  /** `auto` tries overlayfs and falls back to copying the root when it cannot be mounted. */
  readonly strategy?: 'auto' | RootStrategy;
  /** `isolated` (the default): a network namespace of its own; see SandboxNetworkMode. */
  readonly network?: SandboxNetworkMode;
  /** TCP ports on the runner's loopback the program may reach (at 127.0.0.1:<port> inside). */
  readonly loopbackPorts?: readonly number[];
  /** How many lines of output `tail` keeps. */
  readonly tailLines?: number;
  /** Past this limit the lifeline closes, which stops the sandbox and everything in it. */
  readonly timeLimit?: TimeLimit;
  /**
   * `wait` (the default): the sandbox is torn down when runInSandbox returns. `background`:
   * runInSandbox returns once every process of the sandbox has exited, and the rest (the root's
   * unmount, which flushes what the program wrote to disk, the network's helpers and the work
   * folder) goes on meanwhile (cleanup.ts removeInBackground); finishBackgroundRemovals awaits it.
   */
  readonly teardown?: 'wait' | 'background';
  /**
   * Called once the program has been told to start (never when it is not): what the caller does
   * meanwhile starts then.
   */
  readonly onStarted?: () => void;
}

export interface SandboxResult {
  readonly exitCode: number;
  /** Combined stdout and stderr, in order. */
  readonly output: string;
  /** The last `tailLines` lines of `output`. */
  readonly tail: string;
}

const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/* The control files sandbox-launch.sh writes: the names are fixed in the script. */
/** Written by the launcher into its control folder when overlayfs cannot be mounted. */
const OVERLAY_UNAVAILABLE_MARKER = 'overlay-unavailable';
/** Written by the launcher into its control folder when it fails before runc starts. */
const SETUP_FAILED_MARKER = 'setup-failed';
/** Written by the launcher once the root is in place, before it waits for its network. */
const ROOT_READY_MARKER = 'root-ready';
/** runc's own log: an error there means the runtime, not the program, failed. */
const RUNC_LOG = 'runc.log';
/** Every name above: a test holds each to the script. */
export const LAUNCH_CONTROL_FILES = [
  OVERLAY_UNAVAILABLE_MARKER,
  SETUP_FAILED_MARKER,
  ROOT_READY_MARKER,
  RUNC_LOG,
];
const STATE_KEY = 'sandboxes';

/**
 * The launcher script (sandbox-launch.sh, bundled as text): PID 1 of the sandbox's PID namespace,
 * it mounts the root, waits for the network, then runs runc; it writes the control files above.
 */
export const LAUNCH_SCRIPT: string = launchScript;

/**
 * What a non-root runner must prefix to gain the privileges the sandbox needs, or an error that
 * says what the runner needs. Pure, so every case is tested.
 */
export function privilegePrefix(uid: number, sudoWorks: boolean): string[] {
  if (uid === 0) return [];
  if (sudoWorks) return ['sudo', '-n'];
  throw new Error(
    'the build sandbox needs root (for unshare, mount and runc) and this runner is neither root nor allowed ' +
      'passwordless sudo (`sudo -n true` failed). GitHub-hosted runners allow it; on a self-hosted runner, ' +
      'run the job as root or in a privileged container, or allow the runner user passwordless sudo.',
  );
}

async function sandboxPrivileges(): Promise<string[]> {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return [];
  const sudo = await run('sudo', ['-n', 'true'], { silent: true, env: { PATH: HOST_PATH } }).catch(() => ({
    exitCode: 1,
  }));
  return privilegePrefix(uid, sudo.exitCode === 0);
}

/** overlayfs needs its option string split on `,` and `:`; such paths must be refused, not guessed. */
export function overlayPathProblem(path: string): string | undefined {
  if (!isAbsolute(path)) return `${path} is not an absolute path`;
  if (/[,:\\\n]/.test(path))
    return `${path} contains a character (, : \\ or a newline) that overlayfs options cannot carry; move it to a plain path`;
  return undefined;
}

/**
 * The first existing component of `target` (a path inside the sandbox), looked up under `base`,
 * that is a symbolic link; undefined when there is none. Files are written into the root before
 * the program starts, as root on the runner, so a link there would take them onto the runner's files.
 */
export function symlinkOnPath(base: string, target: string): string | undefined {
  let path = base;
  for (const part of target.split('/').filter(Boolean)) {
    path = join(path, part);
    try {
      if (lstatSync(path).isSymbolicLink()) return path;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }
  return undefined;
}

/**
 * Refuses targets whose path, in the root or in a folder mounted before them, passes a symbolic
 * link, with a message that names the link. runc resolves mount targets inside the root too; this
 * says what is wrong before anything runs.
 */
export function assertNoSymlinkedTargets(spec: Pick<SandboxSpec, 'rootfs' | 'mounts' | 'files'>): void {
  const mounts = spec.mounts ?? [];
  const targets = [
    ...mounts.map((mount, index) => ({ target: mount.target, placedAfter: index })),
    ...(spec.files ?? []).map((file) => ({ target: file.target, placedAfter: mounts.length })),
  ];
  for (const { target, placedAfter } of targets) {
    if (target.split('/').includes('..')) throw new Error(`sandbox path ${target} must not contain ..`);
    const covering = mounts
      .slice(0, placedAfter)
      .filter((mount) => target === mount.target || target.startsWith(`${mount.target}/`))
      .sort((a, b) => b.target.length - a.target.length)[0];
    const base = covering?.source ?? spec.rootfs;
    const link = symlinkOnPath(base, relative(covering?.target ?? '/', target));
    if (link !== undefined)
      throw new Error(
        `cannot place ${target} in the sandbox: ${link} is a symbolic link (to ${readlinkSync(link)}), and ` +
          'following it would write outside the sandbox on the runner. ' +
          (covering
            ? `Replace the link in ${covering.source} with a real folder or file.`
            : `The root ${spec.rootfs} comes from the kaniko-image input: use an image where that path is a real folder or file.`),
      );
  }
}

/** The commands the sandbox runs on the runner, and what to install when one is missing. */
const REQUIRED_COMMANDS: readonly { command: string; package: string; when?: SandboxNetworkMode }[] = [
  { command: 'runc', package: 'runc' },
  { command: 'unshare', package: 'util-linux' },
  { command: 'nsenter', package: 'util-linux' },
  { command: 'mount', package: 'mount' },
  { command: 'slirp4netns', package: 'slirp4netns', when: 'isolated' },
];

/** Every missing command, said once, with the install line; pure over `exists`. */
export function missingCommandsProblem(
  network: SandboxNetworkMode,
  exists: (command: string) => boolean,
): string | undefined {
  const missing = REQUIRED_COMMANDS.filter(
    (entry) => (entry.when === undefined || entry.when === network) && !exists(entry.command),
  );
  if (missing.length === 0) return undefined;
  const packages = [...new Set(missing.map((entry) => entry.package))].join(' ');
  const isolation = missing.some((entry) => entry.when === 'isolated')
    ? ' slirp4netns gives the build a network of its own; `build-network: host` builds on the runner’s network instead, where RUN lines can reach the runner’s loopback services.'
    : '';
  return (
    `the build sandbox needs ${missing.map((entry) => entry.command).join(', ')}, which this runner lacks: ` +
    `run \`sudo apt-get install -y ${packages}\` in a step before this one.${isolation}`
  );
}

const onHostPath = (command: string): boolean =>
  HOST_PATH.split(':').some((dir) => existsSync(join(dir, command)));

export interface SandboxLayout {
  readonly strategy: RootStrategy;
  readonly upper: string;
  readonly work: string;
  /** Where the merged (or copied) root is, on the host inside the launcher's mount namespace. */
  readonly root: string;
  /** The launcher's folder: runc's state, bundle and log, markers, the bridges' sockets. */
  readonly control: string;
}

function layoutFor(workDir: string, strategy: RootStrategy): SandboxLayout {
  return strategy === 'overlay'
    ? {
        strategy,
        upper: join(workDir, 'upper'),
        work: join(workDir, 'work'),
        root: join(workDir, 'merged'),
        control: join(workDir, 'control-overlay'),
      }
    : {
        strategy,
        upper: '-',
        work: '-',
        root: join(workDir, 'root'),
        control: join(workDir, 'control-copy'),
      };
}

/**
 * Runs a program in a throw-away root with runc: an overlay over `rootfs` (or a copy of it), new
 * mount, PID, IPC, UTS, cgroup and (unless `network: host`) network namespaces, Docker's default
 * capabilities less net_raw, masked and read-only /proc paths, a seccomp profile, the given mounts
 * and files, a cleared environment. The work folder is recorded for the post step and removed
 * on success and failure (before this returns, or meanwhile: `teardown`); the launcher is recorded
 * so the post step can kill what is left.
 */
export async function runInSandbox(spec: SandboxSpec): Promise<SandboxResult> {
  if (!existsSync(spec.rootfs)) throw new Error(`the sandbox root ${spec.rootfs} does not exist`);
  const network = spec.network ?? 'isolated';
  const missing = missingCommandsProblem(network, onHostPath);
  if (missing) throw new Error(missing);
  if (network === 'host')
    reporter().warning(
      'build-network is host: RUN lines share the runner’s network, including its loopback services and abstract unix sockets.',
    );
  const prefix = await sandboxPrivileges();
  await mkdir(spec.tempDir, { recursive: true });
  const workDir = await mkdtemp(join(spec.tempDir, 'sandbox-'));
  recordForCleanup(workDir);
  // What outlives the sandbox's processes, each let go of at teardown: see TeardownSteps.
  const teardown: TeardownSteps = [];
  try {
    for (const path of [spec.rootfs, workDir]) {
      const problem = overlayPathProblem(path);
      if (problem) throw new Error(`cannot build the sandbox: ${problem}`);
    }
    assertNoSymlinkedTargets(spec);
    const mountedFiles = await stageMountedFiles(spec.files ?? [], join(workDir, 'files'));
    const wanted = spec.strategy ?? 'auto';
    reporter().startGroup(spec.title);
    try {
      // Tried directly: /proc/filesystems lists loaded modules only, and the mount itself loads overlay.
      if (wanted !== 'copy') {
        const result = await attempt(spec, prefix, workDir, 'overlay', mountedFiles, teardown);
        if (result !== 'overlay-unavailable') return result;
        if (wanted === 'overlay')
          throw new Error(`overlayfs cannot be mounted over ${spec.rootfs} in ${workDir} on this runner`);
        reporter().warning(
          `overlayfs is not available here; copying the root ${spec.rootfs} instead (slower)`,
        );
      }
      await copyRoot(spec.rootfs, join(workDir, 'root'), prefix);
      const copied = await attempt(spec, prefix, workDir, 'copy', mountedFiles, teardown);
      if (copied === 'overlay-unavailable')
        throw new Error('the copied sandbox root reported an overlay failure');
      return copied;
    } finally {
      reporter().endGroup();
    }
  } finally {
    const released = Promise.all(teardown.map((release) => release()));
    if (spec.teardown === 'background') removeInBackground(workDir, released);
    else {
      await released.catch(() => undefined);
      await removePath(workDir);
    }
  }
}

/**
 * What a sandbox leaves once its processes have exited, each with the function that lets go of
 * it and resolves when it is gone: the hold on its mount namespace (holdMountNamespace) and its
 * network's helpers. The work folder is removed only after them.
 */
type TeardownSteps = (() => Promise<unknown>)[];

async function attempt(
  spec: SandboxSpec,
  prefix: readonly string[],
  workDir: string,
  strategy: RootStrategy,
  mountedFiles: readonly SandboxMount[],
  teardown: TeardownSteps,
): Promise<SandboxResult | 'overlay-unavailable'> {
  const layout = layoutFor(workDir, strategy);
  const bundle = await prepareBundle(spec, layout, mountedFiles);
  const network = spec.network ?? 'isolated';
  const id = `bsp-${basename(workDir)}-${strategy}`;
  const runcRoot = join(layout.control, 'runc');
  const [command, ...args] = [
    ...prefix,
    ...launcherArgv(network, layout, { lower: spec.rootfs, runcRoot, bundle, id }),
  ];
  // The program's argv holds inputs and Dockerfile paths: it is relayed fenced like its output.
  const display = `sandbox (${strategy} of ${spec.rootfs}, ${network} network): ${spec.argv.map(shellDisplay).join(' ')}\n`;
  const launched = await launch(command!, args, spec, {
    display,
    runcRoot,
    id,
    network,
    control: layout.control,
    prefix,
    teardown,
  });
  return attemptOutcome(spec, layout, launched);
}

/**
 * Makes the layout's folders, writes the files into the upper layer (or the copy) and the runtime
 * configuration into a bundle folder; returns the bundle's path.
 */
async function prepareBundle(
  spec: SandboxSpec,
  layout: SandboxLayout,
  mountedFiles: readonly SandboxMount[],
): Promise<string> {
  const overlay = layout.strategy === 'overlay';
  for (const dir of overlay ? [layout.upper, layout.work, layout.root] : [])
    await mkdir(dir, { recursive: true });
  await mkdir(layout.control, { recursive: true, mode: 0o700 });
  // Files are written into the upper layer (or the copy) before the program starts: the upper
  // layer is a fresh folder of the action's, so no link of the image's can lead a write out of it.
  await writeRootFiles(spec.files ?? [], overlay ? layout.upper : layout.root);
  const bundle = join(layout.control, 'bundle');
  await mkdir(bundle, { mode: 0o700 });
  const config = runtimeSpec({
    root: layout.root,
    argv: spec.argv,
    env: spec.env,
    mounts: [...(spec.mounts ?? []), ...mountedFiles],
    seccomp: sandboxSeccompProfile(),
    hostname: 'sandbox',
  });
  // The program's environment (proxy passwords among it) is in this file, readable by root only.
  await writeFile(join(bundle, 'config.json'), JSON.stringify(config), { mode: 0o600 });
  return bundle;
}

/** unshare's argv that starts sandbox-launch.sh with its positional arguments (see the script). */
function launcherArgv(
  network: SandboxNetworkMode,
  layout: SandboxLayout,
  run: { readonly lower: string; readonly runcRoot: string; readonly bundle: string; readonly id: string },
): string[] {
  return [
    'unshare',
    '--mount',
    '--pid',
    '--fork',
    '--kill-child',
    '--mount-proc',
    '--propagation',
    'private',
    ...(network === 'isolated' ? ['--net'] : []),
    '--',
    '/bin/sh',
    '-c',
    LAUNCH_SCRIPT,
    'sandbox-launch',
    HOST_PATH,
    layout.strategy,
    layout.strategy === 'overlay' ? run.lower : '-',
    layout.upper,
    layout.work,
    layout.root,
    layout.control,
    run.runcRoot,
    run.bundle,
    run.id,
  ];
}

/** Reads the launcher's control files: the program's result, or why the sandbox never ran it. */
function attemptOutcome(
  spec: SandboxSpec,
  layout: SandboxLayout,
  launched: Launched,
): SandboxResult | 'overlay-unavailable' {
  if (existsSync(join(layout.control, OVERLAY_UNAVAILABLE_MARKER))) return 'overlay-unavailable';
  const runtimeError = runcError(join(layout.control, RUNC_LOG));
  if (launched.timedOut && spec.timeLimit)
    throw new ToolTimeoutError(
      `${basename(spec.argv[0] ?? 'the program')} in the build sandbox`,
      spec.timeLimit,
    );
  if (launched.cancelled)
    throw new Error(
      `the build was cancelled (${launched.cancelled}): the sandbox and every process in it were stopped`,
    );
  if (existsSync(join(layout.control, SETUP_FAILED_MARKER)) || runtimeError !== undefined)
    throw new Error(
      `the build sandbox could not be set up (${layout.strategy} of ${spec.rootfs}), so the program never started ` +
        `(exit status ${launched.exitCode})${runtimeError ? `: runc: ${runtimeError}` : ''}; its last lines:\n${launched.tail}`,
    );
  return { exitCode: launched.exitCode, output: launched.output, tail: launched.tail };
}

/** The first error runc logged (its own failure to create or start the container), if any. */
function runcError(logPath: string): string | undefined {
  if (!existsSync(logPath)) return undefined;
  for (const line of readFileSync(logPath, 'utf8').split('\n')) {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === 'error' || entry.level === 'fatal') return entry.msg ?? line;
    } catch {
      continue;
    }
  }
  return undefined;
}

interface Launched extends SandboxResult {
  /** The signal that cancelled the step while the sandbox ran, if one did. */
  readonly cancelled?: NodeJS.Signals;
  /** The sandbox ran past its time limit and was stopped. */
  readonly timedOut?: boolean;
}

interface LaunchContext {
  /** The line that says what runs, relayed before the program's output. */
  readonly display: string;
  readonly runcRoot: string;
  readonly id: string;
  readonly network: SandboxNetworkMode;
  readonly control: string;
  readonly prefix: readonly string[];
  /** Where supervise leaves what must be let go of once the sandbox's processes are gone. */
  readonly teardown: TeardownSteps;
}

/** Starts the launcher and relays its output, fenced, while `supervise` runs it. */
async function launch(
  command: string,
  args: readonly string[],
  spec: SandboxSpec,
  context: LaunchContext,
): Promise<Launched> {
  const child = spawn(command, args, { env: { PATH: HOST_PATH }, stdio: ['pipe', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  // The build's output reaches the log as text only: a RUN line cannot issue workflow commands.
  const { exitCode, cancelled, timedOut } = await relayOutput((listeners) => {
    listeners.stdout(Buffer.from(context.display));
    child.stdout.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      listeners.stdout(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      listeners.stderr(chunk);
    });
    return supervise(child, spec, context);
  });
  const output = Buffer.concat(chunks).toString();
  const tail = lastLines(output.trimEnd(), spec.tailLines ?? 30);
  return { exitCode, output, tail, ...(cancelled ? { cancelled } : {}), ...(timedOut ? { timedOut } : {}) };
}

/**
 * Gives the started launcher its network, says go, and waits for it. A SIGINT or SIGTERM (the
 * runner cancelling the job) closes the lifeline, which stops the whole sandbox; so does the
 * end of the time limit. The network and the hold on the mount namespace are left in
 * `context.teardown`.
 */
async function supervise(
  child: ChildProcessWithoutNullStreams,
  spec: SandboxSpec,
  context: LaunchContext,
): Promise<Pick<Launched, 'exitCode' | 'cancelled' | 'timedOut'>> {
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
  });
  let cancelled: NodeJS.Signals | undefined;
  const cancel = (signal: NodeJS.Signals): void => {
    cancelled = signal;
    child.stdin.destroy();
  };
  process.on('SIGINT', cancel);
  process.on('SIGTERM', cancel);
  let timedOut = false;
  const timer = spec.timeLimit
    ? setTimeout(() => {
        timedOut = true;
        child.stdin.destroy();
      }, spec.timeLimit.ms)
    : undefined;
  let recorded: RecordedSandbox | undefined;
  try {
    const launcher = await launcherPid(child.pid!, exited, join(context.control, ROOT_READY_MARKER));
    if (launcher !== undefined) {
      recorded = recordSandbox({ ...launcher, runcRoot: context.runcRoot, id: context.id });
      // Held before the program starts, so that its end never waits for the overlay's flush.
      const hold = holdMountNamespace(launcher.pid, context.prefix);
      context.teardown.push(hold.release);
      if (context.network === 'isolated') {
        const network: SandboxNetwork = await connectSandboxNetwork({
          pid: launcher.pid,
          loopbackPorts: spec.loopbackPorts ?? [],
          controlDir: context.control,
          privilege: context.prefix,
          path: HOST_PATH,
        });
        context.teardown.push(() => network.close());
      }
      await hold.held;
      if (!cancelled && !timedOut) child.stdin.write('go\n', (error) => error || spec.onStarted?.());
    }
    const exitCode = await exited;
    return { exitCode, ...(cancelled ? { cancelled } : {}), ...(timedOut ? { timedOut } : {}) };
  } catch (error) {
    child.stdin.destroy();
    await exited.catch(() => undefined);
    throw error;
  } finally {
    clearTimeout(timer);
    child.stdin.destroy();
    process.off('SIGINT', cancel);
    process.off('SIGTERM', cancel);
    if (recorded && child.exitCode !== null) forgetSandbox(recorded);
  }
}

/** A hold on the sandbox's mount namespace: see holdMountNamespace. */
interface MountNamespaceHold {
  /** Resolves once the helper holds the namespace, or has ended without (then nothing is held). */
  readonly held: Promise<void>;
  /** Lets go of the namespace; resolves once the helper has ended, and with it the namespace. */
  readonly release: () => Promise<void>;
}

/**
 * Holds the sandbox's mount namespace from a helper outside the sandbox (`nsenter --mount`, then
 * a shell that says so and becomes `cat`, which only waits on its stdin) until `release`. The
 * launcher's end then no longer tears the namespace down: that teardown unmounts the overlay,
 * and overlayfs flushes its whole upper file system to disk as it goes, which took half a second
 * after a build that wrote 170 MB. Every process of the sandbox has exited by then; the flush
 * happens when the hold is let go of, meanwhile with `teardown: background`. Should the helper
 * fail or the action die, nothing is held longer (stdin closes, cat ends).
 */
function holdMountNamespace(pid: number, prefix: readonly string[]): MountNamespaceHold {
  const [command, ...args] = [
    ...prefix,
    'nsenter',
    `--mount=/proc/${pid}/ns/mnt`,
    '--',
    '/bin/sh',
    '-c',
    'echo held && exec cat',
  ];
  const holder = spawn(command!, args, { env: { PATH: HOST_PATH }, stdio: ['pipe', 'pipe', 'ignore'] });
  const ended = new Promise<void>((resolve) => {
    holder.once('error', () => resolve());
    holder.once('close', () => resolve());
  });
  const held = new Promise<void>((resolve) => {
    holder.stdout.once('data', () => resolve());
    void ended.then(resolve);
  });
  holder.stdout.resume();
  holder.stdin.on('error', () => undefined);
  return {
    held,
    release: () => {
      holder.stdin.end();
      return ended;
    },
  };
}

interface LauncherProcess {
  readonly pid: number;
  /** The PID namespace it is the first process of, as /proc/<pid>/ns/pid reads. */
  readonly pidNamespace: string;
}

/**
 * The launcher's PID on the runner, once its root is in place: the first descendant of the
 * started command that lives in another PID namespace (sudo and unshare stay in ours). Undefined
 * when the command ended first (the overlay could not be mounted, say).
 */
async function launcherPid(
  started: number,
  exited: Promise<number>,
  rootReady: string,
): Promise<LauncherProcess | undefined> {
  const ours = readlinkSync('/proc/self/ns/pid');
  let ended = false;
  void exited.then(
    () => (ended = true),
    () => (ended = true),
  );
  for (let attempt = 0; attempt < 1000 && !ended; attempt++) {
    const found = existsSync(rootReady) ? descendantInOtherNamespace(started, ours) : undefined;
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (ended) return undefined;
  throw new Error('the build sandbox did not start within 5 s');
}

function descendantInOtherNamespace(pid: number, ours: string): LauncherProcess | undefined {
  for (const child of childrenOf(pid)) {
    try {
      const pidNamespace = readlinkSync(`/proc/${child}/ns/pid`);
      if (pidNamespace !== ours) return { pid: child, pidNamespace };
    } catch {
      continue;
    }
    const deeper = descendantInOtherNamespace(child, ours);
    if (deeper) return deeper;
  }
  return undefined;
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

interface RecordedSandbox {
  readonly pid: number;
  readonly pidNamespace: string;
  readonly runcRoot: string;
  readonly id: string;
}

const recordedSandboxes: RecordedSandbox[] = [];

function recordSandbox(sandbox: RecordedSandbox): RecordedSandbox {
  recordedSandboxes.push(sandbox);
  reporter().saveState(STATE_KEY, JSON.stringify(recordedSandboxes));
  return sandbox;
}

/** A sandbox whose launcher has ended has nothing left for the post step to stop. */
function forgetSandbox(sandbox: RecordedSandbox): void {
  recordedSandboxes.splice(recordedSandboxes.indexOf(sandbox), 1);
  reporter().saveState(STATE_KEY, JSON.stringify(recordedSandboxes));
}

/**
 * For the post step: kills every sandbox the main step started that is still alive (the job was
 * cancelled, or the main step was killed), by its launcher, the first process of its PID
 * namespace, whose end takes every process of the build with it; then lets runc forget it.
 * A PID that now belongs to another process (its namespace differs) is left alone.
 */
export async function stopRecordedSandboxes(saved = core.getState(STATE_KEY)): Promise<void> {
  const sandboxes = saved ? (JSON.parse(saved) as RecordedSandbox[]) : [];
  const prefix = sandboxes.length > 0 ? await sandboxPrivileges() : [];
  for (const sandbox of sandboxes) {
    let current: string | undefined;
    try {
      current = readlinkSync(`/proc/${sandbox.pid}/ns/pid`);
    } catch {
      current = undefined;
    }
    if (current === sandbox.pidNamespace) {
      const [kill, ...killArgs] = [...prefix, 'kill', '-KILL', String(sandbox.pid)];
      await run(kill!, killArgs, { silent: true, env: { PATH: HOST_PATH } });
    }
    if (existsSync(sandbox.runcRoot)) {
      const [runc, ...runcArgs] = [
        ...prefix,
        'runc',
        '--root',
        sandbox.runcRoot,
        'delete',
        '--force',
        sandbox.id,
      ];
      await run(runc!, runcArgs, { silent: true, env: { PATH: HOST_PATH } });
    }
  }
}

/** One argv entry as a reader would type it; for the log only, never executed. */
function shellDisplay(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg);
}

/** Stages the files that are bound read-only, and returns their mounts. */
async function stageMountedFiles(files: readonly SandboxFile[], dir: string): Promise<SandboxMount[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const mounts: SandboxMount[] = [];
  for (const [index, file] of files.entries()) {
    if (!isAbsolute(file.target)) throw new Error(`sandbox file ${file.target} must be an absolute path`);
    if (!file.asMount) continue;
    const staged = join(dir, String(index));
    await writeFile(staged, file.content, { mode: file.mode ?? 0o644 });
    mounts.push({ source: staged, target: file.target, readOnly: true });
  }
  return mounts;
}

/** Writes the files that are part of the root into `base` (the upper layer or the copied root). */
async function writeRootFiles(files: readonly SandboxFile[], base: string): Promise<void> {
  for (const file of files) {
    if (file.asMount) continue;
    const path = join(base, file.target);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    const existing = join(base, file.target);
    if (existsSync(existing) && lstatSync(existing).isSymbolicLink())
      throw new Error(`cannot place ${file.target} in the sandbox: it is a symbolic link in the root`);
    await writeFile(path, file.content, { mode: file.mode ?? 0o644 });
  }
}

async function copyRoot(rootfs: string, copy: string, prefix: readonly string[]): Promise<void> {
  const [command, ...args] = [...prefix, 'cp', '-a', '--', rootfs, copy];
  const result = await run(command!, args, { env: { PATH: HOST_PATH }, silent: true });
  if (result.exitCode !== 0)
    throw new Error(`cannot copy the sandbox root ${rootfs} to ${copy}: ${result.stderr.trim()}`);
}
