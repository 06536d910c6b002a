import * as core from '@actions/core';
import { getExecOutput } from '@actions/exec';
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
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
  /** TCP ports on the runner's loopback the program may reach (at 127.0.0.1:<port> inside). */
  readonly loopbackPorts?: readonly number[];
}

export interface SandboxResult {
  readonly exitCode: number;
  /** Combined stdout and stderr, in order. */
  readonly output: string;
  /** The last `tailLines` lines of `output`. */
  readonly tail: string;
}

const HOST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
/**
 * The build is real root on the runner's kernel, so /proc must not let it change the kernel:
 * a core_pattern or modprobe path pointing into its root would run code as root on the runner,
 * sysrq-trigger reboots it. As runc does, these are bound read-only over themselves and the
 * kernel-memory and key views are hidden under /dev/null; without sys_admin nothing undoes that.
 */
const PROC_READ_ONLY = ['sys', 'sysrq-trigger', 'irq', 'bus', 'fs'];
const PROC_MASKED = ['kcore', 'keys', 'timer_list', 'sched_debug'];
/** Written by the setup script into its control folder when overlayfs cannot be mounted. */
const OVERLAY_UNAVAILABLE_MARKER = 'overlay-unavailable';
/** Written by the setup script into its control folder when it fails before the program starts. */
const SETUP_FAILED_MARKER = 'setup-failed';
/** Where the old root is put by pivot_root, until it is detached; removed before the program starts. */
const OLD_ROOT = '.sandbox-old-root';
/**
 * Docker's default capability set without net_raw (a build shares the runner's network, where raw
 * sockets could spoof or sniff): what kaniko is built to run with. Everything else (sys_admin,
 * mknod, sys_module, sys_ptrace, dac_read_search, net_admin, …) is dropped from the bounding and
 * inheritable sets, so no process of the build can mount, load modules or trace the setup.
 */
export const SANDBOX_CAPABILITIES = [
  'chown',
  'dac_override',
  'fowner',
  'fsetid',
  'kill',
  'setgid',
  'setuid',
  'setpcap',
  'net_bind_service',
  'sys_chroot',
  'setfcap',
  'audit_write',
];
const SETPRIV_OPTIONS = `--bounding-set=-all,${SANDBOX_CAPABILITIES.map((cap) => `+${cap}`).join(',')} --inh-caps=-all`;
/** Variables sudo or the setup shell add on their own; removed unless the program's environment sets them. */
const SETUP_VARIABLES = [
  'PWD',
  'OLDPWD',
  'SUDO_COMMAND',
  'SUDO_USER',
  'SUDO_UID',
  'SUDO_GID',
  'SUDO_HOME',
  'MAIL',
  'LOGNAME',
  'USER',
  'HOME',
  'SHELL',
  'TERM',
];

/*
 * Runs inside the new mount and PID namespaces, as PID 1. The script is a constant: every value
 * arrives as a positional argument or, for the program's environment, as the script's own
 * environment (never argv: values such as proxy URLs may hold passwords, and argv is readable by
 * every user of the runner). Arguments:
 *   strategy lower upper work root control setup-path path-state program-path unset-names
 *   then directives, then `--` and the program's argv.
 * Directives: `bind SRC TARGET ro|rw`, `copy SRC TARGET`.
 *
 * The program enters its root through pivot_root, not chroot: the old root is detached before the
 * program starts, so no path (`..` after a nested chroot included) leads back to the runner. As
 * nothing of the runner's is reachable after the pivot, the two processes that act after it were
 * started before it: a helper whose root is a view of the runner (so it keeps umount) detaches the
 * old root, and a launcher, already holding only SANDBOX_CAPABILITIES, then executes the program.
 */
export const SETUP_SCRIPT = `set -eu
sb_strategy=$1 sb_lower=$2 sb_upper=$3 sb_work=$4 sb_root=$5 sb_control=$6
PATH=$7
sb_path_state=$8 sb_program_path=$9
shift 9
sb_unset=$1
shift
# Any failure before the program is started marks the run as a setup failure, not the program's.
sb_failed_marker=$sb_control/${SETUP_FAILED_MARKER}
trap 'sb_exit=$?; if [ "$sb_exit" != 0 ]; then : > "$sb_failed_marker"; fi' EXIT
for sb_tool in pivot_root setpriv chroot umount realpath; do
  command -v "$sb_tool" > /dev/null || {
    echo "sandbox: $sb_tool is not installed on this runner; install util-linux and coreutils" >&2
    exit 1
  }
done
if [ "$sb_strategy" = overlay ]; then
  if ! mount -t overlay overlay -o "lowerdir=$sb_lower,upperdir=$sb_upper,workdir=$sb_work" "$sb_root"; then
    echo "sandbox: overlayfs cannot be mounted here" >&2
    : > "$sb_control/${OVERLAY_UNAVAILABLE_MARKER}"
    exit 1
  fi
else
  mount --bind "$sb_root" "$sb_root"
fi
# Everything up to pivot_root runs as root on the runner: a symbolic link in the root must not
# lead a write or a mount out of it (the TypeScript side refuses such roots first).
sb_root_real=$(realpath -e "$sb_root")
sb_inside() {
  case $(realpath -m "$1") in
    "$sb_root_real"/*) ;;
    *)
      echo "sandbox: $1 leads out of the sandbox root through a symbolic link; refusing to write there" >&2
      exit 1
      ;;
  esac
}
sb_inside "$sb_root/proc"
sb_inside "$sb_root/dev"
mkdir -p "$sb_root/proc" "$sb_root/dev"
mount -t proc -o nosuid,nodev,noexec proc "$sb_root/proc"
for sb_entry in ${PROC_READ_ONLY.join(' ')}; do
  if [ -e "$sb_root/proc/$sb_entry" ]; then
    mount --bind "$sb_root/proc/$sb_entry" "$sb_root/proc/$sb_entry"
    mount -o remount,bind,ro,nosuid,nodev,noexec "$sb_root/proc/$sb_entry"
  fi
done
for sb_entry in ${PROC_MASKED.join(' ')}; do
  if [ -e "$sb_root/proc/$sb_entry" ]; then mount --bind /dev/null "$sb_root/proc/$sb_entry"; fi
done
mount -t tmpfs -o nosuid,mode=0755 tmpfs "$sb_root/dev"
for sb_device in ${DEVICES.join(' ')}; do
  if [ -c "/dev/$sb_device" ]; then
    : > "$sb_root/dev/$sb_device"
    mount --bind "/dev/$sb_device" "$sb_root/dev/$sb_device"
  fi
done
mkdir -p "$sb_root/dev/pts" "$sb_root/dev/shm"
ln -s /proc/self/fd "$sb_root/dev/fd"
ln -s /proc/self/fd/0 "$sb_root/dev/stdin"
ln -s /proc/self/fd/1 "$sb_root/dev/stdout"
ln -s /proc/self/fd/2 "$sb_root/dev/stderr"
while [ "$1" != -- ]; do
  case $1 in
    bind)
      sb_source=$2 sb_target=$sb_root$3 sb_mode=$4
      shift 4
      sb_inside "$sb_target"
      if [ -d "$sb_source" ]; then
        mkdir -p "$sb_target"
      else
        mkdir -p "$(dirname "$sb_target")"
        [ -e "$sb_target" ] || : > "$sb_target"
      fi
      mount --bind "$sb_source" "$sb_target"
      if [ "$sb_mode" = ro ]; then mount -o remount,bind,ro "$sb_target"; fi
      ;;
    copy)
      sb_source=$2 sb_target=$sb_root$3
      shift 3
      sb_inside "$sb_target"
      mkdir -p "$(dirname "$sb_target")"
      rm -f "$sb_target"
      cp -p "$sb_source" "$sb_target"
      ;;
    *)
      echo "sandbox: unknown directive $1" >&2
      exit 2
      ;;
  esac
done
shift
sb_inside "$sb_root/${OLD_ROOT}"
mkdir "$sb_root/${OLD_ROOT}" "$sb_control/host"
mkfifo "$sb_control/ready" "$sb_control/to-helper" "$sb_control/to-program"
mount --rbind / "$sb_control/host"
# The helper and the launcher must be running, each with its fifo open, before pivot_root takes
# the runner's paths away. Each says so on fd 7 and closes it; a peer that dies closes it too, so
# reading fd 3 to its end never waits on a dead peer. Read-write opens of a fifo never wait.
exec 7<> "$sb_control/ready"
(
  exec 5< "$sb_root"
  exec chroot "$sb_control/host" /bin/sh -c 'set -eu
    exec 3<> "$1"
    echo helper >&7
    exec 7>&-
    read -r go <&3
    [ "$go" = go ]
    cd /proc/self/fd/5
    umount -l ${OLD_ROOT}
    rmdir ${OLD_ROOT}' sandbox-helper "$sb_control/to-helper"
) &
sb_helper=$!
cd /
setpriv ${SETPRIV_OPTIONS} -- /bin/sh -c '
  exec 3<> "$1"
  echo launcher >&7
  exec 7>&-
  if [ "$2" = set ]; then PATH=$3; export PATH; else unset PATH; fi
  for name in $4; do unset "$name"; done
  shift 4
  read -r go <&3 && [ "$go" = go ] || exit 1
  exec 3<&-
  exec "$@"' sandbox-launcher "$sb_control/to-program" "$sb_path_state" "$sb_program_path" "$sb_unset" "$@" 2>&1 &
sb_program=$!
exec 3< "$sb_control/ready" 6<> "$sb_control/to-helper" 8<> "$sb_control/to-program" 9< "$sb_control"
exec 7>&-
sb_ready=' '
while read -r sb_peer <&3; do sb_ready="$sb_ready$sb_peer "; done
exec 3<&-
case $sb_ready in *' helper '*) ;; *)
  echo "sandbox: the helper that detaches the runner's root did not start" >&2
  exit 1
  ;;
esac
case $sb_ready in *' launcher '*) ;; *)
  echo "sandbox: the launcher did not start: setpriv could not drop the capabilities (see above)" >&2
  exit 1
  ;;
esac
sb_failed_marker=/proc/self/fd/9/${SETUP_FAILED_MARKER}
cd "$sb_root"
pivot_root . ${OLD_ROOT}
cd /
echo go >&6
sb_status=0
wait "$sb_helper" || sb_status=$?
if [ "$sb_status" != 0 ]; then
  echo "sandbox: the runner's root could not be detached from the sandbox (helper exit status $sb_status)" >&2
  exit 1
fi
exec 6>&-
trap - EXIT
exec 9<&-
echo go >&8
wait "$sb_program" || sb_status=$?
exit "$sb_status"
`;

/**
 * What a non-root runner must prefix to gain the privileges the sandbox needs, or an error that
 * says what the runner needs. Pure, so every case is tested.
 */
export function privilegePrefix(uid: number, sudoWorks: boolean): string[] {
  if (uid === 0) return [];
  if (sudoWorks) return ['sudo', '-n'];
  throw new Error(
    'the build sandbox needs root (for unshare, mount and pivot_root) and this runner is neither root nor allowed ' +
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
 * that is a symbolic link; undefined when there is none. The setup writes and mounts as root on
 * the runner before it enters the root, so a link there would take it onto the runner's files.
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
 * link. Mounts are placed in order and files after all mounts, as the setup script does.
 */
export function assertNoSymlinkedTargets(spec: Pick<SandboxSpec, 'rootfs' | 'mounts' | 'files'>): void {
  const mounts = spec.mounts ?? [];
  const targets = [
    ...['/proc', '/dev', `/${OLD_ROOT}`].map((target) => ({ target, placedAfter: 0 })),
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

/**
 * The full argv of the namespace entry: unshare, the constant script, then its arguments. The
 * program's environment is not in it: it is the environment the command is started with.
 */
export function sandboxCommand(
  spec: Pick<SandboxSpec, 'rootfs' | 'argv' | 'env' | 'mounts'>,
  layout: SandboxLayout,
  fileDirectives: readonly string[],
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
  const programPath = spec.env.PATH;
  return [
    'unshare',
    '--mount',
    '--pid',
    // Own IPC and hostname too; the network stays the runner's, for base-image pulls.
    '--ipc',
    '--uts',
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
    layout.control,
    HOST_PATH,
    programPath === undefined ? 'unset' : 'set',
    programPath ?? '',
    SETUP_VARIABLES.filter((name) => !(name in spec.env)).join(' '),
    // Mounts first: a file may be placed inside a mounted folder (a sanitized /workspace/.git/config).
    ...mountDirectives,
    ...fileDirectives,
    '--',
    ...spec.argv,
  ];
}

/**
 * The privilege prefix with what sudo must let through: sudo resets the environment, so the
 * program's variables are named (names only; the values travel in the environment).
 */
export function withPreservedEnv(prefix: readonly string[], env: Readonly<Record<string, string>>): string[] {
  const names = Object.keys(env);
  return prefix[0] === 'sudo' && names.length > 0
    ? [...prefix, `--preserve-env=${names.join(',')}`]
    : [...prefix];
}

export interface SandboxLayout {
  readonly strategy: RootStrategy;
  readonly upper: string;
  readonly work: string;
  /** Where the merged (or copied) root is, on the host inside the namespace. */
  readonly root: string;
  /** The setup script's own folder: its fifos, the view of the host its helper runs in, its markers. */
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
    assertNoSymlinkedTargets(spec);
    const fileDirectives = await stageFiles(spec.files ?? [], join(workDir, 'files'));
    const wanted = spec.strategy ?? 'auto';
    core.startGroup(spec.title);
    try {
      // Tried directly: /proc/filesystems lists loaded modules only, and the mount itself loads overlay.
      if (wanted !== 'copy') {
        const result = await attempt(spec, prefix, workDir, 'overlay', fileDirectives);
        const control = layoutFor(workDir, 'overlay').control;
        if (!existsSync(join(control, OVERLAY_UNAVAILABLE_MARKER))) return result;
        if (wanted === 'overlay')
          throw new Error(`overlayfs cannot be mounted over ${spec.rootfs} in ${workDir} on this runner`);
        core.warning(`overlayfs is not available here; copying the root ${spec.rootfs} instead (slower)`);
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
  const dirs = strategy === 'overlay' ? [layout.upper, layout.work, layout.root] : [];
  for (const dir of [...dirs, layout.control]) await mkdir(dir, { recursive: true });
  const [command, ...args] = [
    ...withPreservedEnv(prefix, spec.env),
    ...sandboxCommand(spec, layout, fileDirectives),
  ];
  core.info(`sandbox (${strategy} of ${spec.rootfs}): ${spec.argv.map(shellDisplay).join(' ')}`);
  // Not exec.ts `run`: its echo of the whole command line would print the setup script. The
  // program's environment is the command's own, never argv. The output still streams live.
  const result = await getExecOutput(command!, args, {
    env: { ...spec.env },
    silent: true,
    ignoreReturnCode: true,
    listeners: {
      stdout: (data: Buffer) => process.stdout.write(data),
      stderr: (data: Buffer) => process.stderr.write(data),
    },
  });
  const output = result.stdout + result.stderr;
  const tail = lastLines(output.trimEnd(), spec.tailLines ?? 30);
  // The overlay marker is read by the caller, which falls back to a copied root.
  if (
    existsSync(join(layout.control, SETUP_FAILED_MARKER)) &&
    !existsSync(join(layout.control, OVERLAY_UNAVAILABLE_MARKER))
  )
    throw new Error(
      `the build sandbox could not be set up (${strategy} of ${spec.rootfs}), so the program never started ` +
        `(exit status ${result.exitCode}); its last lines:\n${tail}`,
    );
  return { exitCode: result.exitCode, output, tail };
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
