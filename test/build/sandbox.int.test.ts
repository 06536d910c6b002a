import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  assertNoSymlinkedTargets,
  overlayPathProblem,
  privilegePrefix,
  runInSandbox,
  stopRecordedSandboxes,
} from '../../src/build/sandbox.js';
import type { SandboxSpec } from '../../src/build/sandbox.js';
import { finishBackgroundRemovals } from '../../src/cleanup.js';
import { hashTree, makeTestRoot, mountsUnder } from '../helpers/rootfs.js';
import { HOSTILE as HOSTILE_OUTPUT, captureStdout, runnerCommands } from '../helpers/runner-log.js';

const SANDBOX_CHILD = join(import.meta.dirname, '..', 'helpers', 'sandbox-child.mts');
const SHELL_TEXT = join(import.meta.dirname, '..', 'helpers', 'shell-text.mjs');
const SYSCALL_PROBE_SOURCE = join(import.meta.dirname, '..', 'helpers', 'syscall-probe.c');
const HOSTILE = ['two words', '$(touch /pwned)', 'line\nbreak', 'it\'s "quoted" `here`', '--', '-i', ''];

describe('privilegePrefix', () => {
  it('runs directly as root, through sudo -n otherwise, and says what is needed without either', () => {
    expect(privilegePrefix(0, false)).toEqual([]);
    expect(privilegePrefix(1001, true)).toEqual(['sudo', '-n']);
    expect(() => privilegePrefix(1001, false)).toThrow(/needs root.*passwordless sudo.*self-hosted runner/s);
  });
});

describe('overlayPathProblem', () => {
  it('refuses paths that overlayfs options cannot carry', () => {
    expect(overlayPathProblem('/runner/_temp/sandbox-1')).toBeUndefined();
    expect(overlayPathProblem('relative/path')).toMatch(/not an absolute path/);
    for (const bad of ['/a,b', '/a:b', '/a\\b', '/a\nb'])
      expect(overlayPathProblem(bad)).toMatch(/overlayfs/);
  });
});

describe('assertNoSymlinkedTargets', () => {
  let base: string;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'bsp-links-'));
    for (const dir of ['root/kaniko', 'root/etc', 'ctx/.git', 'host'])
      mkdirSync(join(base, dir), { recursive: true });
    symlinkSync(join(base, 'host'), join(base, 'root/kaniko/ssl'));
    symlinkSync('../host', join(base, 'ctx/.git/modules'));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('refuses a file or mount target that passes a symbolic link, in the root or in a mounted folder', () => {
    const rootfs = join(base, 'root');
    const mounts = [{ source: join(base, 'ctx'), target: '/workspace', readOnly: true }];
    const file = (target: string) => ({ target, content: 'x' });
    expect(() =>
      assertNoSymlinkedTargets({
        rootfs,
        mounts,
        files: [file('/etc/hosts'), file('/workspace/.git/config')],
      }),
    ).not.toThrow();
    expect(() =>
      assertNoSymlinkedTargets({ rootfs, files: [file('/kaniko/ssl/certs/ca-certificates.crt')] }),
    ).toThrow(/kaniko\/ssl is a symbolic link .*kaniko-image/);
    expect(() =>
      assertNoSymlinkedTargets({
        rootfs,
        mounts: [{ source: base, target: '/kaniko/ssl/x', readOnly: true }],
      }),
    ).toThrow(/kaniko\/ssl is a symbolic link/);
    expect(() =>
      assertNoSymlinkedTargets({ rootfs, mounts, files: [file('/workspace/.git/modules/a/config')] }),
    ).toThrow(/ctx\/\.git\/modules is a symbolic link .*Replace the link in/);
    expect(() => assertNoSymlinkedTargets({ rootfs, files: [file('/etc/../kaniko/x')] })).toThrow(/\.\./);
  });
});

describe('runInSandbox (real namespaces, busybox root)', () => {
  let root: string;
  let rootHash: string;
  let runnerTemp: string;
  let hostDir: string;
  const hostMarker = join(tmpdir(), `bsp-host-marker-${process.pid}`);

  beforeAll(() => {
    root = makeTestRoot();
    rootHash = hashTree(root);
    runnerTemp = mkdtempSync(join(tmpdir(), 'bsp-runner-temp-'));
    writeFileSync(join(runnerTemp, 'runner-temp-marker'), 'secret');
    writeFileSync(hostMarker, 'host');
    hostDir = mkdtempSync(join(tmpdir(), 'bsp-mount-'));
    writeFileSync(join(hostDir, 'in-context'), 'hello');
  });
  afterAll(() => {
    for (const path of [root, runnerTemp, hostDir, hostMarker])
      rmSync(path, { recursive: true, force: true });
  });

  const spec = (script: string, extra: Partial<SandboxSpec> = {}): SandboxSpec => ({
    rootfs: root,
    tempDir: runnerTemp,
    argv: ['/bin/sh', '-c', script, 'sh', ...HOSTILE],
    env: { HOME: '/root', PATH: '/bin' },
    title: 'test sandbox',
    ...extra,
  });

  it.each(['auto', 'copy'] as const)(
    'isolates the program and leaves nothing behind (%s root)',
    async (strategy) => {
      const output = mkdtempSync(join(tmpdir(), 'bsp-out-'));
      let started = 0;
      try {
        const result = await runInSandbox(
          spec(
            [
              'echo "processes=$(ls /proc | grep -c "^[0-9]*$")"',
              'for a in "$@"; do printf "<%s>" "$a"; done; echo',
              'env | sort',
              `[ -e ${hostMarker} ] && echo HOST-MARKER-VISIBLE`,
              `[ -e ${runnerTemp}/runner-temp-marker ] && echo RUNNER-TEMP-VISIBLE`,
              'touch /ctx/new 2>/dev/null && echo CONTEXT-WRITABLE',
              'cat /ctx/in-context; echo',
              'echo made > /out/result',
              'echo written > /bin/written-by-program',
              'cat /etc/resolv.conf; echo mode=$(stat -c %a /kaniko/.docker/config.json)',
              'echo resolv-write=$(echo x 2>/dev/null > /etc/resolv.conf && echo yes || echo no)',
              'ls /dev | tr "\\n" " "; echo',
              'echo "root-fs=$(awk \'$5 == "/" { print $9 }\' /proc/self/mountinfo)"',
              'echo "root-options=$(awk \'$5 == "/" { print $NF }\' /proc/self/mountinfo)"',
              'exit 7',
            ].join('\n'),
            {
              strategy,
              mounts: [
                { source: hostDir, target: '/ctx', readOnly: true },
                { source: output, target: '/out', readOnly: false },
              ],
              files: [
                { target: '/etc/resolv.conf', content: 'nameserver 192.0.2.53\n', asMount: true },
                { target: '/kaniko/.docker/config.json', content: '{}', mode: 0o600 },
              ],
              onStarted: () => (started += 1),
            },
          ),
        );
        expect(result.exitCode).toBe(7);
        expect(started).toBe(1);
        expect(result.output).toMatch(strategy === 'auto' ? /root-fs=overlay\n/ : /root-fs=(?!overlay)/);
        // The upper folder is thrown away: nothing in it is ever synced (Linux 5.10+ has volatile).
        const [major = 0, minor = 0] = release().split('.').map(Number);
        if (strategy === 'auto' && major * 1000 + minor >= 5010)
          expect(result.output).toMatch(/root-options=\S*fsync=volatile/);
        const out = result.output;
        // Its own PID namespace: the setup shell, the program and what it runs, nothing of the host.
        expect(Number(/processes=(\d+)/.exec(out)?.[1])).toBeLessThan(10);
        expect(out).toContain(`${HOSTILE.map((arg) => `<${arg}>`).join('')}\n`);
        expect(out).toContain('HOME=/root\nPATH=/bin\nPWD=/\n');
        expect(out).not.toMatch(/GITHUB_|ACTIONS_|INPUT_|RUNNER_/);
        expect(out).not.toContain('VISIBLE');
        expect(out).not.toContain('CONTEXT-WRITABLE');
        expect(out).toContain('hello\n');
        expect(out).toContain('nameserver 192.0.2.53\nmode=600\n');
        expect(out).toContain('resolv-write=no');
        expect(out).toMatch(/ null .* urandom zero/);
        expect(existsSync(join(output, 'result'))).toBe(true);
        expect(hashTree(root)).toBe(rootHash);
        expect(mountsUnder(runnerTemp)).toEqual([]);
        expect(mountsUnder(hostDir)).toEqual([]);
        expect(readdirSync(runnerTemp)).toEqual(['runner-temp-marker']);
      } finally {
        rmSync(output, { recursive: true, force: true });
      }
    },
  );

  it('falls back to a copied root when overlayfs cannot be mounted (auto)', async () => {
    // The kernel refuses an overlay whose upper directory is itself on overlayfs (as in many
    // containers): a real "overlay unavailable", not a simulated one.
    const base = mkdtempSync(join(tmpdir(), 'bsp-nested-'));
    for (const dir of ['l', 'u', 'w', 'm']) mkdirSync(join(base, dir));
    const options = `lowerdir=${base}/l,upperdir=${base}/u,workdir=${base}/w`;
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', options, join(base, 'm')]);
    try {
      const result = await runInSandbox(spec('echo "fallback ran"', { tempDir: join(base, 'm') }));
      expect(result.exitCode).toBe(0);
      expect(result.output).toContain('fallback ran');
      expect(readdirSync(join(base, 'm'))).toEqual([]);
      expect(hashTree(root)).toBe(rootHash);
      await expect(
        runInSandbox(spec('true', { tempDir: join(base, 'm'), strategy: 'overlay' })),
      ).rejects.toThrow(/overlayfs cannot be mounted over .* on this runner/);
    } finally {
      execFileSync('umount', [join(base, 'm')]);
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('reads an exit code of 97 as the program’s, not as “overlay unavailable”', async () => {
    const result = await runInSandbox(spec('echo ran-once; exit 97'));
    expect(result.exitCode).toBe(97);
    expect(result.output.match(/ran-once/g)).toEqual(['ran-once']);
  });

  it('leaves the runner unreachable: pivoted root, Docker’s capabilities, no mount, no host process', async () => {
    const secret = 'proxy-password-in-env';
    const result = await runInSandbox(
      spec(
        [
          'grep -E "^Cap(Bnd|Prm|Eff|Inh)" /proc/self/status',
          'echo "namespaces: $(readlink /proc/self/ns/ipc) $(readlink /proc/self/ns/uts) $(readlink /proc/self/ns/net)"',
          'echo "mountinfo:"; cat /proc/self/mountinfo; echo "end mountinfo"',
          `cat /proc/1/root${hostMarker} 2>/dev/null && echo HOST-MARKER-VIA-PID1`,
          `cat /proc/1/root${runnerTemp}/runner-temp-marker 2>/dev/null && echo RUNNER-TEMP-VIA-PID1`,
          // PID 1 is the program itself (runc execs it): its environment, with HOME=/ as runc adds it.
          'tr "\\0" "\\n" < /proc/1/environ | grep -vE "^(PATH|HTTPS_PROXY|HOME)=" | grep -q . && echo PID1-ENV-HAS-MORE',
          // Split, so that the program's own argv (part of PID 1's) does not hold the value searched for.
          `tr "\\0" " " < /proc/1/cmdline | grep -q ${secret.slice(0, 5)}"${secret.slice(5)}" && echo SECRET-IN-ARGV`,
          'ls -a / | tr "\\n" " "; echo',
          'mkdir -p /mnt; mount -t tmpfs tmpfs /mnt 2>/dev/null && echo MOUNTED',
          'mount --bind / /mnt 2>/dev/null && echo BIND-MOUNTED',
          'mount -t proc proc /mnt 2>/dev/null && echo PROC-MOUNTED',
          'mknod /dev/sda-copy b 8 0 2>/dev/null && echo MKNOD',
          // The classic escape: a nested chroot, then `..` past it; with pivot_root it ends at /.
          'mkdir -p /jail/bin; cp /bin/busybox /jail/bin/; ln -s busybox /jail/bin/sh',
          `chroot /jail /bin/sh -c 'cd /; for i in 1 2 3 4 5 6 7 8 9; do cd -P ..; done; [ -e ${hostMarker} ] && echo ESCAPED; pwd'`,
          `chroot / /bin/sh -c '[ -e ${hostMarker} ] && echo ESCAPED-CHROOT'`,
          'true',
        ].join('\n'),
        { env: { PATH: '/bin', HTTPS_PROXY: `http://user:${secret}@proxy:3128` } },
      ),
    );
    expect(result.exitCode).toBe(0);
    const out = result.output;
    const capabilities = (name: string): bigint =>
      BigInt(`0x${new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(out)?.[1]}`);
    // Docker's default set, and nothing more, in the bounding set; nothing inheritable.
    const docker = [0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 29, 31].reduce(
      (all, bit) => all | (1n << BigInt(bit)),
      0n,
    );
    expect(capabilities('CapBnd')).toBe(docker);
    expect(capabilities('CapEff')).toBe(docker);
    expect(capabilities('CapInh')).toBe(0n);
    for (const dropped of [
      21 /* sys_admin */, 27 /* mknod */, 16 /* sys_module */, 17 /* sys_rawio */, 19 /* sys_ptrace */,
      2 /* dac_read_search */, 12 /* net_admin */, 13 /* net_raw */,
    ])
      expect(capabilities('CapBnd') & (1n << BigInt(dropped))).toBe(0n);
    const hostNamespaces = ['ipc', 'uts', 'net'].map((name) => readlinkSync(`/proc/self/ns/${name}`));
    const namespaces = /namespaces: (\S+) (\S+) (\S+)/.exec(out)?.slice(1) ?? [];
    expect(namespaces).toHaveLength(3);
    expect(namespaces[0]).not.toBe(hostNamespaces[0]);
    expect(namespaces[1]).not.toBe(hostNamespaces[1]);
    // A network of its own: the runner's loopback services and abstract sockets are not in it.
    expect(namespaces[2]).not.toBe(hostNamespaces[2]);
    const mountinfo = /mountinfo:\n([^]*)end mountinfo/.exec(out)?.[1] ?? '';
    const mountPoints = mountinfo
      .trim()
      .split('\n')
      .map((line) => line.split(' ')[4]);
    expect(mountPoints[0]).toBe('/');
    for (const point of mountPoints) expect(point).toMatch(/^\/((proc|dev)(\/.*)?)?$/);
    // Nothing of the runner's root stays reachable: runc's pivot_root detached it.
    expect(mountinfo).not.toMatch(/ \/(tmp|work|home|runner|usr|etc)\b/);
    expect(out).not.toMatch(/VIA-PID1|PID1-ENV-HAS-MORE|SECRET-IN-ARGV|MOUNTED|MKNOD|ESCAPED/);
    expect(hashTree(root)).toBe(rootHash);
  });

  it('refuses the calls a hostile RUN line wants, as Docker’s default seccomp profile does', async () => {
    const probeDir = mkdtempSync(join(tmpdir(), 'bsp-probe-'));
    const abstractName = `bsp-runner-socket-${process.pid}`;
    const runnerSocket = createServer((socket) => socket.end('RUNNER-ABSTRACT-SOCKET\n'));
    await new Promise<void>((resolve) => runnerSocket.listen(`\0${abstractName}`, resolve));
    try {
      execFileSync('gcc', ['-static', '-O2', '-o', join(probeDir, 'probe'), SYSCALL_PROBE_SOURCE]);
      const result = await runInSandbox(
        spec('/probe/probe "$0"', {
          argv: ['/bin/sh', '-c', '/probe/probe "$1"', 'sh', abstractName],
          mounts: [{ source: probeDir, target: '/probe', readOnly: true }],
        }),
      );
      expect(result.exitCode).toBe(0);
      const answers = Object.fromEntries(
        [...result.output.matchAll(/^([\w-]+)=(.*)$/gm)].map((match) => [match[1], match[2]]),
      );
      // The runner's root keyring, new user/network/cgroup namespaces, mounts, BPF: all refused.
      for (const call of [
        'keyctl',
        'add_key',
        'unshare-user',
        'unshare-net',
        'unshare-cgroup',
        'mount',
        'setns',
        'bpf',
        'userfaultfd',
      ])
        expect(answers[call], call).toBe('Operation not permitted');
      // clone3 says "not implemented", so the C library falls back to clone, whose flags are checked.
      expect(answers.clone3).toBe('Function not implemented');
      // Abstract sockets belong to a network namespace: the runner's are not in the sandbox's.
      expect(answers['abstract-socket']).toBe('Connection refused');
      expect(result.output).not.toContain('RUNNER-ABSTRACT-SOCKET');
    } finally {
      runnerSocket.close();
      rmSync(probeDir, { recursive: true, force: true });
    }
  });

  it('reaches only the runner loopback ports it is given, not the others nor the gateway', async () => {
    const listen = async (text: string): Promise<Server> => {
      const server = createServer((socket) => socket.end(`${text}\n`));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return server;
    };
    const allowed = await listen('ALLOWED-SERVICE');
    const other = await listen('OTHER-SERVICE');
    const portOf = (server: Server): number => (server.address() as AddressInfo).port;
    try {
      const result = await runInSandbox(
        spec(
          [
            `sleep 1 | nc 127.0.0.1 ${portOf(allowed)}`,
            `sleep 1 | nc 127.0.0.1 ${portOf(other)} || echo "other: refused"`,
            `sleep 1 | nc 10.0.2.2 ${portOf(other)} || echo "gateway: refused"`,
            'true',
          ].join('\n'),
          { loopbackPorts: [portOf(allowed)] },
        ),
      );
      expect(result.output).toContain('ALLOWED-SERVICE');
      expect(result.output).not.toContain('OTHER-SERVICE');
      expect(result.output).toContain('other: refused');
      expect(result.output).toContain('gateway: refused');
    } finally {
      allowed.close();
      other.close();
    }
  });

  it('on the runner’s network (build-network: host) sees the runner’s loopback, and says so', async () => {
    const service = createServer((socket) => socket.end('RUNNER-SERVICE\n'));
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    try {
      const port = (service.address() as AddressInfo).port;
      const result = await runInSandbox(spec(`sleep 1 | nc 127.0.0.1 ${port}`, { network: 'host' }));
      expect(result.output).toContain('RUNNER-SERVICE');
    } finally {
      service.close();
    }
  });

  it('relays what the program prints as text: the runner obeys none of its workflow commands', async () => {
    const written = captureStdout();
    try {
      const result = await runInSandbox(
        spec('printf "%s\n" "$1"', { argv: ['/bin/sh', '-c', 'printf "%s\\n" "$1"', 'sh', HOSTILE_OUTPUT] }),
      );
      expect(result.output).toContain('::add-mask::policy failed');
    } finally {
      vi.restoreAllMocks();
    }
    const log = written.join('');
    expect(log).toContain('::add-mask::policy failed');
    const obeyed = runnerCommands(log);
    expect(obeyed.filter((line) => /policy failed|spoofed|indented|old-style|guessed/.test(line))).toEqual(
      [],
    );
  });

  it('keeps the kernel settings in /proc out of the program’s reach', async () => {
    const corePattern = '/proc/sys/kernel/core_pattern';
    const before = readFileSync(corePattern, 'utf8');
    const masked = ['kcore', 'keys', 'timer_list', 'sched_debug'].filter((name) =>
      existsSync(`/proc/${name}`),
    );
    try {
      const result = await runInSandbox(
        spec(
          [
            `echo core.bsp-test 2>/dev/null > ${corePattern} && echo CORE-PATTERN-WRITTEN`,
            'echo 0 2>/dev/null > /proc/sys/vm/drop_caches && echo PROC-SYS-WRITTEN',
            '[ -e /proc/sysrq-trigger ] && [ -w /proc/sysrq-trigger ] && echo SYSRQ-WRITABLE',
            ...masked.map((name) => `echo "${name}=$(head -c 64 /proc/${name} 2>/dev/null | wc -c)"`),
            'umount /proc/sys 2>/dev/null && echo UNMOUNTED',
            'true',
          ].join('\n'),
        ),
      );
      expect(result.exitCode).toBe(0);
      expect(result.output).not.toMatch(/WRITTEN|WRITABLE|UNMOUNTED/);
      for (const name of masked) expect(result.output).toContain(`${name}=0\n`);
      expect(readFileSync(corePattern, 'utf8')).toBe(before);
    } finally {
      if (readFileSync(corePattern, 'utf8') !== before) writeFileSync(corePattern, before);
    }
  });

  it('kills every process of the sandbox when the program ends', async () => {
    const result = await runInSandbox(spec('sleep 300 & echo "started $!"'));
    expect(result.exitCode).toBe(0);
    const pid = /started (\d+)/.exec(result.output)?.[1];
    expect(pid).toBeDefined();
    const sleepers = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
    const survivors = sleepers.filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/cmdline`, 'utf8').startsWith('sleep\u0000300');
      } catch {
        return false;
      }
    });
    expect(survivors).toEqual([]);
  });

  it('with teardown: background, returns once its processes are gone and tears down the rest meanwhile', async () => {
    const ours = readlinkSync('/proc/self/ns/mnt');
    // Processes this test started (through sudo or not) that live in another mount namespace.
    const inOtherMountNamespaces = (): string[] => {
      const found: string[] = [];
      const visit = (pid: string): void => {
        for (const task of readdirSync(`/proc/${pid}/task`)) {
          let children: string[];
          try {
            children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean);
          } catch {
            continue;
          }
          for (const child of children) {
            try {
              if (readlinkSync(`/proc/${child}/ns/mnt`) !== ours) found.push(child);
              visit(child);
            } catch {
              continue;
            }
          }
        }
      };
      visit(String(process.pid));
      return found;
    };
    const result = await runInSandbox(
      spec('dd if=/dev/zero of=/tmp/written bs=1M count=64 2>/dev/null; echo done', {
        teardown: 'background',
      }),
    );
    expect(result.exitCode).toBe(0);
    expect(result.output).toContain('done');
    // Only the hold on the mount namespace is left of the sandbox; the program's processes are gone.
    expect(inOtherMountNamespaces()).toHaveLength(1);
    expect(await finishBackgroundRemovals()).toEqual([]);
    expect(inOtherMountNamespaces()).toEqual([]);
    expect(mountsUnder(runnerTemp)).toEqual([]);
    expect(readdirSync(runnerTemp)).toEqual(['runner-temp-marker']);
  });

  describe('when the step is cancelled or killed', () => {
    const sleepers = (marker: string): string[] =>
      readdirSync('/proc')
        .filter((entry) => /^\d+$/.test(entry))
        .filter((entry) => {
          try {
            return readFileSync(`/proc/${entry}/cmdline`, 'utf8').startsWith(`sleep\0${marker}`);
          } catch {
            return false;
          }
        });

    /** Starts a sandbox in a node process of its own; resolves once the program is running. */
    const startChild = async (marker: string): Promise<{ child: ChildProcess; output: () => string }> => {
      const tempDir = mkdtempSync(join(runnerTemp, 'child-'));
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          '--import',
          SHELL_TEXT,
          SANDBOX_CHILD,
          root,
          tempDir,
          `sleep ${marker} & echo program-started; wait`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let text = '';
      child.stdout!.on('data', (data: Buffer) => (text += data.toString()));
      child.stderr!.on('data', (data: Buffer) => (text += data.toString()));
      await vi.waitFor(() => expect(text).toContain('program-started'), { timeout: 20_000, interval: 50 });
      return { child, output: () => text };
    };

    it('a killed action process takes the whole sandbox with it', async () => {
      const marker = '3001';
      const { child, output } = await startChild(marker);
      await vi.waitFor(() => expect(sleepers(marker)).toHaveLength(1), { timeout: 5_000, interval: 20 });
      const launcher = /name=sandboxes::\[\{"pid":(\d+)/.exec(output())?.[1];
      expect(launcher).toBeDefined();
      const networkHelpers = (): string[] =>
        readdirSync('/proc')
          .filter((entry) => /^\d+$/.test(entry))
          .filter((entry) => {
            try {
              const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
              return argv[0] === 'slirp4netns' && argv.includes(launcher!);
            } catch {
              return false;
            }
          });
      expect(networkHelpers()).toHaveLength(1);
      // The launcher's mount namespace, which a helper of the action holds while the sandbox runs.
      const mountNamespace = readlinkSync(`/proc/${launcher}/ns/mnt`);
      const inMountNamespace = (): string[] =>
        readdirSync('/proc')
          .filter((entry) => /^\d+$/.test(entry))
          .filter((entry) => {
            try {
              return readlinkSync(`/proc/${entry}/ns/mnt`) === mountNamespace;
            } catch {
              return false;
            }
          });
      expect(inMountNamespace().length).toBeGreaterThan(1);
      child.kill('SIGKILL');
      await vi.waitFor(() => expect(sleepers(marker)).toEqual([]), { timeout: 5_000, interval: 50 });
      await vi.waitFor(() => expect(networkHelpers()).toEqual([]), { timeout: 5_000, interval: 50 });
      await vi.waitFor(() => expect(inMountNamespace()).toEqual([]), { timeout: 5_000, interval: 50 });
    });

    it.each(['SIGINT', 'SIGTERM'] as const)(
      '%s stops every process of the sandbox, then fails the build saying so',
      async (signal) => {
        const marker = signal === 'SIGINT' ? '3002' : '3003';
        const { child, output } = await startChild(marker);
        await vi.waitFor(() => expect(sleepers(marker)).toHaveLength(1), { timeout: 5_000, interval: 20 });
        const exited = new Promise<string>((resolve) =>
          child.on('exit', (code, sig) => resolve(`${code} ${sig}`)),
        );
        child.kill(signal);
        expect(await exited, output()).toBe('1 null');
        expect(output()).toContain(`sandbox-error=the build was cancelled (${signal})`);
        expect(sleepers(marker)).toEqual([]);
      },
    );

    it('the post step kills a sandbox that outlived the main step, and nothing else', async () => {
      const marker = '3004';
      const leftover = spawn('unshare', ['--pid', '--fork', '--kill-child', 'sleep', marker], {
        detached: true,
        stdio: 'ignore',
      });
      await vi.waitFor(() => expect(sleepers(marker)).toHaveLength(1), { timeout: 5_000, interval: 20 });
      const launcher = Number(sleepers(marker)[0]);
      const bystander = spawn('sleep', ['3005'], { stdio: 'ignore' });
      try {
        await stopRecordedSandboxes(
          JSON.stringify([
            {
              pid: launcher,
              pidNamespace: readlinkSync(`/proc/${launcher}/ns/pid`),
              runcRoot: '/nonexistent',
              id: 'x',
            },
            // A recorded PID now held by a process of another namespace is not the sandbox's.
            { pid: bystander.pid, pidNamespace: 'pid:[1]', runcRoot: '/nonexistent', id: 'y' },
          ]),
        );
        await vi.waitFor(() => expect(sleepers(marker)).toEqual([]), { timeout: 5_000, interval: 20 });
        expect(sleepers('3005')).toHaveLength(1);
      } finally {
        leftover.kill('SIGKILL');
        bystander.kill('SIGKILL');
      }
    });
  });

  describe('a root with a symbolic link out of it', () => {
    const bundle = '/kaniko/ssl/certs/ca-certificates.crt';
    let linkedRoot: string;
    let hostSsl: string;
    beforeAll(() => {
      hostSsl = mkdtempSync(join(tmpdir(), 'bsp-host-ssl-'));
      mkdirSync(join(hostSsl, 'certs'));
      writeFileSync(join(hostSsl, 'certs', 'ca-certificates.crt'), 'HOST BUNDLE');
      linkedRoot = mkdtempSync(join(tmpdir(), 'bsp-linked-root-'));
      execFileSync('cp', ['-a', `${root}/.`, linkedRoot]);
      rmSync(join(linkedRoot, 'kaniko', 'ssl'), { recursive: true });
      symlinkSync(hostSsl, join(linkedRoot, 'kaniko', 'ssl'));
    });
    afterAll(() => {
      for (const path of [linkedRoot, hostSsl]) rmSync(path, { recursive: true, force: true });
    });

    it('is refused before anything runs, naming the link and the kaniko-image', async () => {
      await expect(
        runInSandbox(
          spec('true', { rootfs: linkedRoot, files: [{ target: bundle, content: 'OVERWRITTEN' }] }),
        ),
      ).rejects.toThrow(/kaniko\/ssl is a symbolic link .*kaniko-image/);
      expect(readFileSync(join(hostSsl, 'certs', 'ca-certificates.crt'), 'utf8')).toBe('HOST BUNDLE');
    });

    it('is refused for a file written into the root, too', async () => {
      await expect(
        runInSandbox(
          spec('true', {
            rootfs: linkedRoot,
            files: [{ target: bundle, content: 'OVERWRITTEN', asMount: true }],
          }),
        ),
      ).rejects.toThrow(/kaniko\/ssl is a symbolic link/);
      expect(readFileSync(join(hostSsl, 'certs', 'ca-certificates.crt'), 'utf8')).toBe('HOST BUNDLE');
    });
  });

  it('rejects, naming the setup and runc’s reason, when the runtime cannot start the program', async () => {
    await expect(runInSandbox(spec('ignored', { argv: ['/bin/no-such-program'] }))).rejects.toThrow(
      /sandbox could not be set up \(overlay of .*\), so the program never started .*runc: .*no-such-program/s,
    );
  });

  it('fails clearly when the root does not exist', async () => {
    await expect(runInSandbox(spec('true', { rootfs: join(runnerTemp, 'missing') }))).rejects.toThrow(
      /does not exist/,
    );
  });
});
