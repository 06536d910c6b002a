import { isAbsolute } from 'node:path';
import type { SeccompProfile } from './seccomp.js';

/** A host path made visible inside the sandbox (bind mount, private to the sandbox). */
export interface SandboxMount {
  readonly source: string;
  /** Absolute path inside the sandbox; created in the root when it lacks it. */
  readonly target: string;
  readonly readOnly: boolean;
}

/**
 * Docker's default capability set without net_raw (raw sockets could spoof or sniff on the
 * network the build shares): what kaniko is built to run with. Everything else (sys_admin, mknod,
 * sys_module, sys_ptrace, dac_read_search, net_admin, …) is withheld from every set.
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

/**
 * The build is real root on the runner's kernel, so /proc must not let it change the kernel: a
 * core_pattern or modprobe path pointing into its root would run code as root on the runner,
 * sysrq-trigger reboots it. As Docker does, these are read-only and the kernel-memory and key views
 * are masked; without sys_admin (and with mount refused by seccomp) nothing undoes that.
 */
export const READ_ONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
export const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export interface RuntimeSpecOptions {
  /** The sandbox's root on the host: the merged overlay or the copied root. */
  readonly root: string;
  /** argv[0] is a path inside the sandbox. */
  readonly argv: readonly string[];
  /** The program's whole environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly mounts: readonly SandboxMount[];
  readonly seccomp: SeccompProfile;
  readonly hostname: string;
}

/**
 * The OCI runtime configuration runc starts the program with. Pure: every field the sandbox's
 * promises rest on is visible here and tested directly.
 */
export function runtimeSpec(options: RuntimeSpecOptions): object {
  assertValidOptions(options);
  const capabilities = SANDBOX_CAPABILITIES.map((name) => `CAP_${name.toUpperCase()}`);
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [...options.argv],
      env: Object.entries(options.env).map(([name, value]) => `${name}=${value}`),
      cwd: '/',
      capabilities: {
        bounding: capabilities,
        effective: capabilities,
        permitted: capabilities,
        inheritable: [],
        ambient: [],
      },
      noNewPrivileges: false,
    },
    root: { path: options.root, readonly: false },
    hostname: options.hostname,
    mounts: [
      ...KERNEL_MOUNTS,
      ...options.mounts.map((mount) => ({
        destination: mount.target,
        type: 'bind',
        source: mount.source,
        options: ['bind', 'nosuid', 'nodev', mount.readOnly ? 'ro' : 'rw'],
      })),
    ],
    linux: {
      // No network namespace here: the program shares the launcher's, which is the sandbox's own
      // (slirp4netns joins it to the outside) or, by explicit choice, the runner's.
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }],
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READ_ONLY_PATHS,
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      seccomp: options.seccomp,
    },
  };
}

function assertValidOptions(options: RuntimeSpecOptions): void {
  const bad = Object.keys(options.env).find((key) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key));
  if (bad !== undefined)
    throw new Error(`sandbox environment variable name ${JSON.stringify(bad)} is not valid`);
  if (options.argv.length === 0 || !isAbsolute(options.argv[0]!))
    throw new Error('the sandbox program must be given as an absolute path inside the root');
  for (const mount of options.mounts)
    if (!isAbsolute(mount.target) || !isAbsolute(mount.source))
      throw new Error(`sandbox mount ${mount.source} → ${mount.target}: both paths must be absolute`);
}

/** /proc, and a /dev of its own with only what runc creates: Docker's default mounts. */
const KERNEL_MOUNTS = [
  { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  {
    destination: '/dev',
    type: 'tmpfs',
    source: 'tmpfs',
    options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
  },
  {
    destination: '/dev/pts',
    type: 'devpts',
    source: 'devpts',
    options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
  },
  {
    destination: '/dev/shm',
    type: 'tmpfs',
    source: 'shm',
    options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
  },
  {
    destination: '/dev/mqueue',
    type: 'mqueue',
    source: 'mqueue',
    options: ['nosuid', 'noexec', 'nodev'],
  },
];
