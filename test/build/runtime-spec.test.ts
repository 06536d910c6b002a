import { describe, expect, it } from 'vitest';
import {
  MASKED_PATHS,
  READ_ONLY_PATHS,
  SANDBOX_CAPABILITIES,
  runtimeSpec,
} from '../../src/build/runtime-spec.js';
import { missingCommandsProblem } from '../../src/build/sandbox.js';
import { sandboxResolvConf } from '../../src/build/sandbox-network.js';
import { NAMESPACE_FLAGS, REFUSED_SYSCALLS, sandboxSeccompProfile } from '../../src/build/seccomp.js';

const HOSTILE = ['two words', '$(touch /pwned)', 'line\nbreak', '--', '-i', ''];

interface Spec {
  process: {
    args: string[];
    env: string[];
    capabilities: Record<string, string[]>;
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  mounts: { destination: string; type: string; source: string; options?: string[] }[];
  linux: {
    namespaces: { type: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp: ReturnType<typeof sandboxSeccompProfile>;
  };
}

const build = (overrides: Partial<Parameters<typeof runtimeSpec>[0]> = {}): Spec =>
  runtimeSpec({
    root: '/w/merged',
    argv: ['/kaniko/executor', ...HOSTILE],
    env: { HOME: '/root', HTTPS_PROXY: 'http://user:proxy-password@proxy:3128' },
    mounts: [
      { source: '/host/ctx dir', target: '/workspace', readOnly: true },
      { source: '/host/out', target: '/output', readOnly: false },
    ],
    seccomp: sandboxSeccompProfile('x64'),
    hostname: 'sandbox',
    ...overrides,
  }) as Spec;

describe('runtimeSpec', () => {
  it('runs the program as given, with its environment in the file and nothing of the runner’s', () => {
    const spec = build();
    expect(spec.process.args).toEqual(['/kaniko/executor', ...HOSTILE]);
    expect(spec.process.env).toEqual(['HOME=/root', 'HTTPS_PROXY=http://user:proxy-password@proxy:3128']);
    expect(spec.root).toEqual({ path: '/w/merged', readonly: false });
  });

  it('grants Docker’s default capabilities less net_raw, in every set but the inheritable and ambient ones', () => {
    const { capabilities } = build().process;
    const docker = SANDBOX_CAPABILITIES.map((name) => `CAP_${name.toUpperCase()}`);
    for (const set of ['bounding', 'effective', 'permitted']) expect(capabilities[set]).toEqual(docker);
    expect(capabilities.inheritable).toEqual([]);
    expect(capabilities.ambient).toEqual([]);
    expect(docker).not.toContain('CAP_NET_RAW');
    expect(docker).not.toContain('CAP_SYS_ADMIN');
  });

  it('makes every namespace new but the network, which the launcher already made', () => {
    expect(
      build()
        .linux.namespaces.map((namespace) => namespace.type)
        .sort(),
    ).toEqual(['cgroup', 'ipc', 'mount', 'pid', 'uts']);
  });

  it('masks the kernel views and makes /proc/sys read-only, as Docker does; no /sys at all', () => {
    const { linux, mounts } = build();
    expect(linux.maskedPaths).toEqual(MASKED_PATHS);
    expect(linux.readonlyPaths).toEqual(READ_ONLY_PATHS);
    expect(linux.maskedPaths).toEqual(
      expect.arrayContaining(['/proc/kcore', '/proc/keys', '/proc/sched_debug']),
    );
    expect(linux.readonlyPaths).toEqual(expect.arrayContaining(['/proc/sys', '/proc/sysrq-trigger']));
    expect(mounts.map((mount) => mount.destination)).not.toContain('/sys');
  });

  it('binds the given folders with their mode, never setuid or devices', () => {
    const binds = build().mounts.filter((mount) => mount.type === 'bind');
    expect(binds).toEqual([
      {
        destination: '/workspace',
        type: 'bind',
        source: '/host/ctx dir',
        options: ['bind', 'nosuid', 'nodev', 'ro'],
      },
      {
        destination: '/output',
        type: 'bind',
        source: '/host/out',
        options: ['bind', 'nosuid', 'nodev', 'rw'],
      },
    ]);
  });

  it('rejects a relative program, relative mounts and bad variable names', () => {
    expect(() => build({ argv: ['true'] })).toThrow(/absolute path/);
    expect(() => build({ env: { 'A=B': 'x' } })).toThrow(/not valid/);
    expect(() => build({ mounts: [{ source: 'rel', target: '/x', readOnly: true }] })).toThrow(/absolute/);
  });
});

describe('sandboxSeccompProfile', () => {
  it('refuses keyrings, mounts, module loading, BPF, setns and namespace creation on both runner kinds', () => {
    for (const [arch, native] of [
      ['x64', 'SCMP_ARCH_X86_64'],
      ['arm64', 'SCMP_ARCH_AARCH64'],
    ] as const) {
      const profile = sandboxSeccompProfile(arch);
      expect(profile.defaultAction).toBe('SCMP_ACT_ALLOW');
      expect(profile.architectures).toContain(native);
      const refused = profile.syscalls.find((rule) => !rule.args && rule.errnoRet === 1)!.names;
      expect(refused).toEqual([...REFUSED_SYSCALLS]);
      for (const call of [
        'keyctl',
        'add_key',
        'request_key',
        'mount',
        'setns',
        'bpf',
        'init_module',
        'io_uring_setup',
      ])
        expect(refused).toContain(call);
      // One rule per namespace flag, for clone and unshare alike: (flags & flag) == flag is refused.
      const flagged = profile.syscalls.filter((rule) => rule.args);
      expect(flagged.map((rule) => rule.args![0]!.value).sort()).toEqual(
        Object.values(NAMESPACE_FLAGS).sort(),
      );
      for (const rule of flagged) {
        expect(rule.names).toEqual(['clone', 'unshare']);
        expect(rule.args![0]).toMatchObject({
          index: 0,
          op: 'SCMP_CMP_MASKED_EQ',
          valueTwo: rule.args![0]!.value,
        });
      }
      expect(profile.syscalls).toContainEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    }
    expect(NAMESPACE_FLAGS.CLONE_NEWUSER).toBe(0x10000000);
  });

  it('says which runners it cannot protect', () => {
    expect(() => sandboxSeccompProfile('s390x')).toThrow(/no seccomp profile for a s390x runner/);
  });
});

describe('missingCommandsProblem', () => {
  it('names every missing command once, with the packages to install and the host-network way out', () => {
    expect(missingCommandsProblem('isolated', () => true)).toBeUndefined();
    const problem = missingCommandsProblem(
      'isolated',
      (command) => !['runc', 'slirp4netns'].includes(command),
    );
    expect(problem).toMatch(/needs runc, slirp4netns.*sudo apt-get install -y runc slirp4netns/);
    expect(problem).toMatch(/build-network: host/);
    expect(missingCommandsProblem('host', (command) => command !== 'slirp4netns')).toBeUndefined();
    expect(missingCommandsProblem('host', (command) => command !== 'runc')).not.toMatch(/build-network/);
  });
});

describe('sandboxResolvConf', () => {
  const runner = '# managed\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.internal\n';
  it('asks slirp4netns’s forwarder on the build’s own network, keeping search and options', () => {
    expect(sandboxResolvConf(runner, 'isolated')).toBe(
      'nameserver 10.0.2.3\noptions edns0 trust-ad\nsearch example.internal\n',
    );
  });
  it('keeps the runner’s file on the runner’s network', () => {
    expect(sandboxResolvConf(runner, 'host')).toBe(runner);
  });
});
