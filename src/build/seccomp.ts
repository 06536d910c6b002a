/**
 * The system calls the build sandbox refuses, as an OCI runtime seccomp profile that runc compiles
 * with libseccomp (no filter is assembled here).
 *
 * Docker's default profile is an allow-list; this is the deny-list of what it withholds from a
 * container without extra capabilities, for the calls that matter on the runner's kernel: new
 * namespaces (a user namespace would hand a RUN line every capability inside it, and with it a
 * cgroup in the runner's hierarchy), joining namespaces, the kernel keyring (shared by every root
 * process on the runner), mounting, module and kexec loading, BPF, perf, userfaultfd, io_uring,
 * clock, swap, quota, accounting and reboot calls. ptrace and process_vm_* stay allowed, as Docker
 * allows them on kernels 4.8 and later: the PID namespace keeps them inside the build.
 */

const EPERM = 1;
const ENOSYS = 38;

/** Calls refused outright (EPERM). */
export const REFUSED_SYSCALLS = [
  // keyring: the runner's root keyring holds other jobs' and the runner's keys
  'add_key',
  'keyctl',
  'request_key',
  // namespaces joined or created without clone flags
  'setns',
  // mounts, old and new API
  'mount',
  'umount',
  'umount2',
  'pivot_root',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'move_mount',
  'open_tree',
  'mount_setattr',
  // the kernel itself
  'init_module',
  'finit_module',
  'delete_module',
  'create_module',
  'query_module',
  'get_kernel_syms',
  'kexec_load',
  'kexec_file_load',
  'reboot',
  'bpf',
  'perf_event_open',
  'lookup_dcookie',
  'syslog',
  '_sysctl',
  'sysfs',
  'uselib',
  'ustat',
  'nfsservctl',
  'vm86',
  'vm86old',
  'iopl',
  'ioperm',
  // time, swap, quota, accounting: state of the whole machine
  'settimeofday',
  'stime',
  'clock_settime',
  'clock_adjtime',
  'adjtimex',
  'swapon',
  'swapoff',
  'quotactl',
  'quotactl_fd',
  'acct',
  // file handles bypass path checks (the "shocker" escape)
  'open_by_handle_at',
  'name_to_handle_at',
  // memory and scheduling of other processes, and kernel attack surface Docker withholds
  'userfaultfd',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  'kcmp',
  'mbind',
  'set_mempolicy',
  'get_mempolicy',
  'move_pages',
  'fanotify_init',
] as const;

/** clone and unshare flags that create a namespace (linux/sched.h). */
export const NAMESPACE_FLAGS: Readonly<Record<string, number>> = Object.freeze({
  CLONE_NEWTIME: 0x00000080,
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
});

/** libseccomp's names for the architectures a process on this machine can run code of. */
const ARCHITECTURES: Readonly<Record<string, readonly string[]>> = {
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
};

export interface SeccompRule {
  readonly names: readonly string[];
  readonly action: 'SCMP_ACT_ERRNO';
  readonly errnoRet: number;
  readonly args?: readonly {
    readonly index: number;
    readonly value: number;
    readonly valueTwo: number;
    readonly op: 'SCMP_CMP_MASKED_EQ';
  }[];
}

export interface SeccompProfile {
  readonly defaultAction: 'SCMP_ACT_ALLOW';
  readonly architectures: readonly string[];
  readonly syscalls: readonly SeccompRule[];
}

/**
 * The profile for a runner of `arch` (process.arch). Foreign-platform RUN lines run through QEMU
 * user emulation, which turns their calls into the runner's own, so this one profile covers them.
 */
export function sandboxSeccompProfile(arch: string = process.arch): SeccompProfile {
  const architectures = ARCHITECTURES[arch];
  if (!architectures)
    throw new Error(
      `the build sandbox has no seccomp profile for a ${arch} runner; use an x64 or arm64 runner`,
    );
  // clone's flags are its first argument on x86-64 and arm64 (unlike s390x); clone3 passes them in
  // a struct seccomp cannot read, so it answers ENOSYS and the C library falls back to clone.
  const namespaceRules: SeccompRule[] = Object.values(NAMESPACE_FLAGS).map((flag) => ({
    names: ['clone', 'unshare'],
    action: 'SCMP_ACT_ERRNO',
    errnoRet: EPERM,
    args: [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }],
  }));
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures,
    syscalls: [
      { names: [...REFUSED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
      ...namespaceRules,
    ],
  };
}
