import { execFileSync, spawnSync } from 'node:child_process';
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
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SETUP_SCRIPT,
  assertNoSymlinkedTargets,
  overlayPathProblem,
  privilegePrefix,
  runInSandbox,
  sandboxCommand,
  withPreservedEnv,
} from '../../src/build/sandbox.js';
import type { SandboxSpec } from '../../src/build/sandbox.js';
import { hashTree, makeTestRoot, mountsUnder } from '../helpers/rootfs.js';

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

describe('sandboxCommand', () => {
  const layout = {
    strategy: 'overlay' as const,
    upper: '/w/upper',
    work: '/w/work',
    root: '/w/merged',
    control: '/w/control',
  };

  it('keeps the script constant, hands every value over as its own argv entry and no env value', () => {
    const command = sandboxCommand(
      {
        rootfs: '/cache/root',
        argv: ['/kaniko/executor', ...HOSTILE],
        env: { HOME: '/root', PATH: '/kaniko', HTTPS_PROXY: 'http://user:proxy-password@proxy:3128' },
        mounts: [{ source: '/host/ctx dir', target: '/workspace', readOnly: true }],
      },
      layout,
      ['copy', '/w/files/0', '/etc/x'],
    );
    expect(command.slice(0, 13)).toEqual([
      'unshare',
      '--mount',
      '--pid',
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
    ]);
    expect(SETUP_SCRIPT).not.toContain('/cache/root');
    expect(command.join('\n')).not.toContain('proxy-password');
    expect(command.slice(-1 - HOSTILE.length)).toEqual(['/kaniko/executor', ...HOSTILE]);
    const tail = command.slice(command.indexOf('sandbox-setup'));
    expect(tail.slice(0, 7)).toEqual([
      'sandbox-setup',
      'overlay',
      '/cache/root',
      '/w/upper',
      '/w/work',
      '/w/merged',
      '/w/control',
    ]);
    expect(tail.slice(8, 11)).toEqual(['set', '/kaniko', expect.not.stringMatching(/(^| )HOME( |$)/)]);
    // Mounts come before files, so a file can be placed inside a mounted folder.
    expect(tail.indexOf('bind')).toBeLessThan(tail.indexOf('copy'));
    expect(tail).toEqual(expect.arrayContaining(['bind', '/host/ctx dir', '/workspace', 'ro']));
  });

  it('rejects a relative program, relative mounts and bad variable names', () => {
    const base = { rootfs: '/r', argv: ['/bin/true'], env: {}, mounts: [] };
    expect(() => sandboxCommand({ ...base, argv: ['true'] }, layout, [])).toThrow(/absolute path/);
    expect(() => sandboxCommand({ ...base, env: { 'A=B': 'x' } }, layout, [])).toThrow(/not valid/);
    expect(() =>
      sandboxCommand({ ...base, mounts: [{ source: 'rel', target: '/x', readOnly: true }] }, layout, []),
    ).toThrow(/absolute/);
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

describe('withPreservedEnv', () => {
  it('names the program variables for sudo (names only) and adds nothing when running as root', () => {
    const env = { PATH: '/kaniko', HTTPS_PROXY: 'http://u:secret@p:3128' };
    expect(withPreservedEnv([], env)).toEqual([]);
    expect(withPreservedEnv(['sudo', '-n'], env)).toEqual(['sudo', '-n', '--preserve-env=PATH,HTTPS_PROXY']);
    expect(withPreservedEnv(['sudo', '-n'], {})).toEqual(['sudo', '-n']);
  });
});

/**
 * Runs the namespace entry directly with a given setup script over a copy of `rootfs`, bypassing
 * runInSandbox's own checks; killed after `timeoutMs`.
 */
function runSetup(
  script: string,
  rootfs: string,
  directives: readonly string[],
  timeoutMs = 20_000,
): { status: number | null; output: string; milliseconds: number } {
  const workDir = mkdtempSync(join(tmpdir(), 'bsp-raw-setup-'));
  try {
    const layout = {
      strategy: 'copy' as const,
      upper: '-',
      work: '-',
      root: join(workDir, 'root'),
      control: join(workDir, 'control'),
    };
    execFileSync('cp', ['-a', rootfs, layout.root]);
    mkdirSync(layout.control);
    const command = sandboxCommand(
      { rootfs, argv: ['/bin/echo', 'program ran'], env: {} },
      layout,
      directives,
    );
    command[command.indexOf(SETUP_SCRIPT)] = script;
    const started = Date.now();
    const result = spawnSync(command[0]!, command.slice(1), {
      encoding: 'utf8',
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    return {
      status: result.status,
      output: result.stdout + result.stderr,
      milliseconds: Date.now() - started,
    };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

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
            },
          ),
        );
        expect(result.exitCode).toBe(7);
        expect(result.output).toMatch(strategy === 'auto' ? /root-fs=overlay\n/ : /root-fs=(?!overlay)/);
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
          'cat /proc/1/environ 2>/dev/null | tr "\\0" "\\n" | grep -q . && echo PID1-ENV-READABLE',
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
    // The runner's network: kaniko pulls base images through it.
    expect(namespaces[2]).toBe(hostNamespaces[2]);
    const mountinfo = /mountinfo:\n([^]*)end mountinfo/.exec(out)?.[1] ?? '';
    const mountPoints = mountinfo
      .trim()
      .split('\n')
      .map((line) => line.split(' ')[4]);
    expect(mountPoints[0]).toBe('/');
    for (const point of mountPoints) expect(point).toMatch(/^\/((proc|dev)(\/.*)?)?$/);
    expect(mountinfo).not.toContain('sandbox-old-root');
    expect(out).not.toMatch(/VIA-PID1|PID1-ENV-READABLE|SECRET-IN-ARGV|MOUNTED|MKNOD|ESCAPED/);
    expect(out).not.toContain('.sandbox-old-root');
    expect(hashTree(root)).toBe(rootHash);
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

    it('is refused by the setup script too, should a link get past the check', () => {
      const staged = join(hostDir, 'staged-bundle');
      writeFileSync(staged, 'OVERWRITTEN');
      const result = runSetup(SETUP_SCRIPT, linkedRoot, ['copy', staged, bundle]);
      expect(result.status).not.toBe(0);
      expect(result.output).toMatch(/kaniko\/ssl\/certs\/ca-certificates\.crt leads out of the sandbox root/);
      expect(readFileSync(join(hostSsl, 'certs', 'ca-certificates.crt'), 'utf8')).toBe('HOST BUNDLE');
    });
  });

  it.each([
    [
      'the launcher cannot start (setpriv fails)',
      'setpriv --bounding',
      'setpriv --bogus-flag --bounding',
      /launcher did not start/,
    ],
    ['the helper fails', 'umount -l', 'false; umount -l', /root could not be detached .*exit status 1/],
  ])('ends promptly and non-zero when %s', (_, from, to, message) => {
    expect(SETUP_SCRIPT).toContain(from);
    const result = runSetup(SETUP_SCRIPT.replace(from, to), root, []);
    expect(result.status).toBe(1);
    expect(result.output).toMatch(message);
    expect(result.output).not.toContain('program ran');
    expect(result.milliseconds).toBeLessThan(10_000);
  });

  it('rejects, naming the setup, when the sandbox cannot be set up', async () => {
    const brokenRoot = mkdtempSync(join(tmpdir(), 'bsp-broken-root-'));
    try {
      execFileSync('cp', ['-a', `${root}/.`, brokenRoot]);
      // The setup's own mount point for the old root is taken: mkdir fails before the program starts.
      mkdirSync(join(brokenRoot, '.sandbox-old-root'));
      await expect(runInSandbox(spec('echo program ran', { rootfs: brokenRoot }))).rejects.toThrow(
        /sandbox could not be set up \(overlay of .*\), so the program never started/,
      );
    } finally {
      rmSync(brokenRoot, { recursive: true, force: true });
    }
  });

  it('fails clearly when the root does not exist', async () => {
    await expect(runInSandbox(spec('true', { rootfs: join(runnerTemp, 'missing') }))).rejects.toThrow(
      /does not exist/,
    );
  });
});
