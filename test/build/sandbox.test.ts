import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SETUP_SCRIPT,
  overlayPathProblem,
  privilegePrefix,
  runInSandbox,
  sandboxCommand,
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
  const layout = { strategy: 'overlay' as const, upper: '/w/upper', work: '/w/work', root: '/w/merged' };

  it('keeps the script constant and hands every value over as its own argv entry', () => {
    const command = sandboxCommand(
      {
        rootfs: '/cache/root',
        argv: ['/kaniko/executor', ...HOSTILE],
        env: { HOME: '/root', TRICKY: 'a b $(c)\nd' },
        mounts: [{ source: '/host/ctx dir', target: '/workspace', readOnly: true }],
      },
      layout,
      ['copy', '/w/files/0', '/etc/x'],
    );
    expect(command.slice(0, 11)).toEqual([
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
    ]);
    expect(SETUP_SCRIPT).not.toContain('/cache/root');
    expect(command).toContain('TRICKY=a b $(c)\nd');
    expect(command.slice(-2 - HOSTILE.length)).toEqual(['/w/merged', '/kaniko/executor', ...HOSTILE]);
    const tail = command.slice(command.indexOf('sandbox-setup'));
    expect(tail.slice(0, 6)).toEqual([
      'sandbox-setup',
      'overlay',
      '/cache/root',
      '/w/upper',
      '/w/work',
      '/w/merged',
    ]);
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
              'echo "pid=$$"',
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
        expect(result.strategy).toBe(strategy === 'auto' ? 'overlay' : 'copy');
        expect(result.exitCode).toBe(7);
        const out = result.output;
        expect(out).toContain('pid=1\n');
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
      expect(result.strategy).toBe('copy');
      expect(result.exitCode).toBe(0);
      expect(result.output).toContain('fallback ran');
      expect(readdirSync(join(base, 'm'))).toEqual([]);
      expect(hashTree(root)).toBe(rootHash);
      await expect(
        runInSandbox(spec('true', { tempDir: join(base, 'm'), strategy: 'overlay' })),
      ).resolves.toMatchObject({ exitCode: 97, strategy: 'overlay' });
    } finally {
      execFileSync('umount', [join(base, 'm')]);
      rmSync(base, { recursive: true, force: true });
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

  it('fails clearly when the root does not exist', async () => {
    await expect(runInSandbox(spec('true', { rootfs: join(runnerTemp, 'missing') }))).rejects.toThrow(
      /does not exist/,
    );
  });
});
