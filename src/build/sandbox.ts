import * as core from '@actions/core';
import { getExecOutput } from '@actions/exec';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { recordForCleanup, removePath } from '../cleanup.js';
import { lastLines, run } from '../exec.js';

/** A host path made visible inside the sandbox (bind mount, private to the sandbox). */
export interface SandboxMount {
  readonly source: string;
  /** Absolute path inside the sandbox; created in the overlay when the root lacks it. */
  readonly target: string;
  readonly readOnly: boolean;
}

/** A file placed in the sandbox before the program starts. */
export interface SandboxFile {
  /** Absolute path inside the sandbox. */
  readonly target: string;
  readonly content: string | Buffer;
  /** File mode; 0o644 unless given (use 0o600 for credentials). */
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
  /** How many lines of output `tail` keeps. */
  readonly tailLines?: number;
}

export interface SandboxResult {
  readonly exitCode: number;
  /** Combined stdout and stderr, in order. */
  readonly output: string;
  /** The last `tailLines` lines of `output`. */
  readonly tail: string;
  readonly strategy: RootStrategy;
}

/** Exit code the setup script uses when overlayfs cannot be mounted, so `auto` can fall back. */
const OVERLAY_UNAVAILABLE = 97;
const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];

/*
 * Runs inside the new mount and PID namespaces (as PID 1 until the final exec). The script is a
 * constant: every value arrives as a positional argument, so no path, env value or argv entry is
 * ever parsed by the shell. Arguments:
 *   strategy lower upper work root  then directives  then `--` and the env+chroot argv.
 * Directives: `bind SRC TARGET ro|rw`, `copy SRC TARGET`.
 */
export const SETUP_SCRIPT = `set -eu
strategy=$1 lower=$2 upper=$3 work=$4 root=$5
shift 5
if [ "$strategy" = overlay ]; then
  if ! mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$root"; then
    echo "sandbox: overlayfs cannot be mounted here" >&2
    exit ${OVERLAY_UNAVAILABLE}
  fi
fi
mkdir -p "$root/proc" "$root/dev"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t tmpfs -o nosuid,mode=0755 tmpfs "$root/dev"
for device in ${DEVICES.join(' ')}; do
  if [ -c "/dev/$device" ]; then
    : > "$root/dev/$device"
    mount --bind "/dev/$device" "$root/dev/$device"
  fi
done
mkdir -p "$root/dev/pts" "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
while [ "$1" != -- ]; do
  case $1 in
    bind)
      source=$2 target=$root$3 mode=$4
      shift 4
      if [ -d "$source" ]; then
        mkdir -p "$target"
      else
        mkdir -p "$(dirname "$target")"
        [ -e "$target" ] || : > "$target"
      fi
      mount --bind "$source" "$target"
      if [ "$mode" = ro ]; then mount -o remount,bind,ro "$target"; fi
      ;;
    copy)
      source=$2 target=$root$3
      shift 3
      mkdir -p "$(dirname "$target")"
      rm -f "$target"
      cp -p "$source" "$target"
      ;;
    *)
      echo "sandbox: unknown directive $1" >&2
      exit 2
      ;;
  esac
done
shift
exec 2>&1
exec "$@"
`;

/**
 * What a non-root runner must prefix to gain the privileges the sandbox needs, or an error that
 * says what the runner needs. Pure, so every case is tested.
 */
export function privilegePrefix(uid: number, sudoWorks: boolean): string[] {
  if (uid === 0) return [];
  if (sudoWorks) return ['sudo', '-n'];
  throw new Error(
    'the build sandbox needs root (for unshare, mount and chroot) and this runner is neither root nor allowed ' +
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

/** `env -i` clears PATH before it starts chroot, so chroot is named by its host path. */
function hostChroot(): string {
  const found = HOST_PATH.split(':')
    .map((dir) => join(dir, 'chroot'))
    .find((path) => existsSync(path));
  if (!found)
    throw new Error(`chroot is not installed on this runner (looked in ${HOST_PATH}); install coreutils`);
  return found;
}

function overlaySupported(): boolean {
  try {
    return /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}

/** The full argv of the namespace entry: unshare, the constant script, then its arguments. */
export function sandboxCommand(
  spec: Pick<SandboxSpec, 'rootfs' | 'argv' | 'env' | 'mounts'>,
  layout: SandboxLayout,
  fileDirectives: readonly string[],
  chroot = '/usr/sbin/chroot',
): string[] {
  const bad = Object.keys(spec.env).find((key) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key));
  if (bad !== undefined)
    throw new Error(`sandbox environment variable name ${JSON.stringify(bad)} is not valid`);
  if (spec.argv.length === 0 || !isAbsolute(spec.argv[0]!))
    throw new Error('the sandbox program must be given as an absolute path inside the root');
  const mountDirectives = (spec.mounts ?? []).flatMap((mount) => {
    if (!isAbsolute(mount.target) || !isAbsolute(mount.source))
      throw new Error(`sandbox mount ${mount.source} → ${mount.target}: both paths must be absolute`);
    return ['bind', mount.source, mount.target, mount.readOnly ? 'ro' : 'rw'];
  });
  return [
    'unshare',
    '--mount',
    '--pid',
    '--fork',
    '--kill-child',
    '--propagation',
    'private',
    '--',
    '/bin/sh',
    '-c',
    SETUP_SCRIPT,
    'sandbox-setup',
    layout.strategy,
    layout.strategy === 'overlay' ? spec.rootfs : '-',
    layout.upper,
    layout.work,
    layout.root,
    ...fileDirectives,
    ...mountDirectives,
    '--',
    'env',
    '-i',
    ...Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
    chroot,
    '--',
    layout.root,
    ...spec.argv,
  ];
}

export interface SandboxLayout {
  readonly strategy: RootStrategy;
  readonly upper: string;
  readonly work: string;
  /** Where the merged (or copied) root is, on the host inside the namespace. */
  readonly root: string;
}

function layoutFor(workDir: string, strategy: RootStrategy): SandboxLayout {
  return strategy === 'overlay'
    ? {
        strategy,
        upper: join(workDir, 'upper'),
        work: join(workDir, 'work'),
        root: join(workDir, 'merged'),
      }
    : { strategy, upper: '-', work: '-', root: join(workDir, 'root') };
}

/**
 * Runs a program in a throw-away root: an overlay over `rootfs` (or a copy of it), new mount and
 * PID namespaces, a fresh /proc, a minimal /dev, the given mounts and files, a cleared env. All
 * mounts live only in the private namespace, so they vanish with its last process; the work
 * folder is recorded for the post step and removed here on success and failure.
 */
export async function runInSandbox(spec: SandboxSpec): Promise<SandboxResult> {
  if (!existsSync(spec.rootfs)) throw new Error(`the sandbox root ${spec.rootfs} does not exist`);
  const prefix = await sandboxPrivileges();
  await mkdir(spec.tempDir, { recursive: true });
  const workDir = await mkdtemp(join(spec.tempDir, 'sandbox-'));
  recordForCleanup(workDir);
  try {
    for (const path of [spec.rootfs, workDir]) {
      const problem = overlayPathProblem(path);
      if (problem) throw new Error(`cannot build the sandbox: ${problem}`);
    }
    const fileDirectives = await stageFiles(spec.files ?? [], join(workDir, 'files'));
    const wanted = spec.strategy ?? 'auto';
    core.startGroup(spec.title);
    try {
      if (wanted !== 'copy' && overlaySupported()) {
        const result = await attempt(spec, prefix, workDir, 'overlay', fileDirectives);
        if (result.exitCode !== OVERLAY_UNAVAILABLE || wanted === 'overlay') return result;
        core.warning(`overlayfs is not available here; copying the root ${spec.rootfs} instead (slower)`);
      } else if (wanted === 'overlay') {
        throw new Error('overlayfs is not supported by this kernel (not in /proc/filesystems)');
      }
      await copyRoot(spec.rootfs, join(workDir, 'root'), prefix);
      return await attempt(spec, prefix, workDir, 'copy', fileDirectives);
    } finally {
      core.endGroup();
    }
  } finally {
    await removePath(workDir);
  }
}

async function attempt(
  spec: SandboxSpec,
  prefix: readonly string[],
  workDir: string,
  strategy: RootStrategy,
  fileDirectives: readonly string[],
): Promise<SandboxResult> {
  const layout = layoutFor(workDir, strategy);
  if (strategy === 'overlay')
    for (const dir of [layout.upper, layout.work, layout.root]) await mkdir(dir, { recursive: true });
  const [command, ...args] = [...prefix, ...sandboxCommand(spec, layout, fileDirectives, hostChroot())];
  core.info(`sandbox (${strategy} of ${spec.rootfs}): ${spec.argv.map(shellDisplay).join(' ')}`);
  // Not exec.ts `run`: its echo of the whole command line would print the setup script and the
  // environment (proxy URLs may hold credentials). The output still streams live to the log.
  const result = await getExecOutput(command!, args, {
    env: { PATH: HOST_PATH },
    silent: true,
    ignoreReturnCode: true,
    listeners: {
      stdout: (data: Buffer) => process.stdout.write(data),
      stderr: (data: Buffer) => process.stderr.write(data),
    },
  });
  const output = result.stdout + result.stderr;
  return {
    exitCode: result.exitCode,
    output,
    tail: lastLines(output.trimEnd(), spec.tailLines ?? 30),
    strategy,
  };
}

/** One argv entry as a reader would type it; for the log only, never executed. */
function shellDisplay(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg);
}

async function stageFiles(files: readonly SandboxFile[], dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const directives: string[] = [];
  for (const [index, file] of files.entries()) {
    if (!isAbsolute(file.target)) throw new Error(`sandbox file ${file.target} must be an absolute path`);
    const staged = join(dir, String(index));
    await writeFile(staged, file.content, { mode: file.mode ?? 0o644 });
    directives.push(...(file.asMount ? ['bind', staged, file.target, 'ro'] : ['copy', staged, file.target]));
  }
  return directives;
}

async function copyRoot(rootfs: string, copy: string, prefix: readonly string[]): Promise<void> {
  const [command, ...args] = [...prefix, 'cp', '-a', '--', rootfs, copy];
  const result = await run(command!, args, { env: { PATH: HOST_PATH }, silent: true });
  if (result.exitCode !== 0)
    throw new Error(`cannot copy the sandbox root ${rootfs} to ${copy}: ${result.stderr.trim()}`);
}
