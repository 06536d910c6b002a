import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BuildEnvironment, BuildRequest, BuildResult } from '../../src/build/kaniko-build.js';
import { buildImage, describeBuild } from '../../src/build/kaniko-build.js';
import { readImageTarball } from '../../src/build/tarball.js';
import { Registries } from '../../src/registries.js';
import type * as Cleanup from '../../src/cleanup.js';
import { finishBackgroundRemovals, pathsRecordedThisRun } from '../../src/cleanup.js';
import { writeImageTarball } from '../helpers/image-tarball.js';
import {
  EXECUTOR_CA_MARKER,
  STANDIN_EXECUTOR,
  hashTree,
  makeTestRoot,
  mountsUnder,
} from '../helpers/rootfs.js';

const removal = vi.hoisted(() => ({ keepBuildFolders: true }));
// buildImage removes the build's output folder, where the stand-in leaves its reports: most tests
// read those, so the folder is kept unless a test checks the removal itself.
vi.mock('../../src/cleanup.js', async (importOriginal) => {
  const original = await importOriginal<typeof Cleanup>();
  return {
    ...original,
    removePath: async (path: string): Promise<void> =>
      removal.keepBuildFolders && /\/build-\w+$/.test(path) ? undefined : original.removePath(path),
  };
});

const HOSTILE = ['two words', '$(touch /pwned)', 'line\nbreak', 'it\'s "quoted" `here`'];

let root: string;
let rootHash: string;
let scratch: string;
let runnerTemp: string;
let hostEtc: string;
const hostMarker = join(tmpdir(), `bsp-build-host-marker-${process.pid}`);

beforeAll(() => {
  root = makeTestRoot();
  rootHash = hashTree(root);
  scratch = mkdtempSync(join(tmpdir(), 'bsp-build-'));
  runnerTemp = join(scratch, 'runner-temp');
  mkdirSync(runnerTemp);
  writeFileSync(join(runnerTemp, 'runner-temp-marker'), 'runner secret');
  writeFileSync(hostMarker, 'host');
  hostEtc = join(scratch, 'etc');
  mkdirSync(hostEtc);
  writeFileSync(join(hostEtc, 'resolv.conf'), 'nameserver 192.0.2.53\n');
  writeFileSync(join(hostEtc, 'hosts'), '127.0.0.1 localhost runner-host\n');
  writeFileSync(join(scratch, 'runner-ca.crt'), '# runner CA bundle\n');
});
afterAll(() => {
  for (const path of [root, scratch, hostMarker]) rmSync(path, { recursive: true, force: true });
});

let contexts = 0;
function makeContext(dockerfile: string, files: Record<string, string> = { 'app.txt': 'hello\n' }): string {
  const context = join(scratch, `context-${++contexts}`);
  mkdirSync(context);
  writeFileSync(join(context, 'Dockerfile'), dockerfile);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(context, name), content);
  return context;
}

/** One build's settings and environment, flat, as these tests vary them. */
type TestBuild = BuildRequest &
  Omit<BuildEnvironment, 'registries'> & { insecureRegistries: readonly string[] };

function options(context: string, overrides: Partial<TestBuild> = {}): TestBuild {
  return {
    rootfs: root,
    context,
    dockerfile: join(context, 'Dockerfile'),
    outputDir: join(scratch, 'out'),
    tempDir: runnerTemp,
    image: 'ghcr.io/octo-org/app',
    firstTag: 'sha-0123456',
    buildArgs: [],
    labels: { 'org.opencontainers.image.revision': '0123456' },
    target: '',
    platform: { os: 'linux', architecture: 'amd64' },
    reproducible: false,
    insecureRegistries: [],
    kanikoArgs: [],
    network: 'isolated',
    loopbackPorts: [],
    hostEnv: {},
    hostEtc,
    hostCaBundle: join(scratch, 'runner-ca.crt'),
    ...overrides,
  };
}

/**
 * buildImage with a test case's settings and environment, then the sandbox's removal, which
 * buildImage leaves running (the pipeline awaits it the same way before it ends).
 */
async function build(test: TestBuild): Promise<BuildResult> {
  const { insecureRegistries, ...rest } = test;
  try {
    return await describeBuild(
      await buildImage(rest, { ...rest, registries: new Registries({ insecure: insecureRegistries }) }),
    );
  } finally {
    expect(await finishBackgroundRemovals()).toEqual([]);
  }
}

/** The build's output folder (/output in the sandbox) that a tarball was moved out of. */
const buildFolderOf = (tarball: string): string =>
  join(dirname(dirname(tarball)), basename(dirname(tarball)).replace(/-image-\w+$/, ''));
const report = (outputDir: string, name: string): string => readFileSync(join(outputDir, name), 'utf8');
const argvOf = (outputDir: string): string[] => report(outputDir, 'standin-argv').split('\0').slice(0, -1);

describe('buildImage (real sandbox, stand-in executor)', () => {
  it('builds into a tarball on the host without touching the runner', async () => {
    const context = makeContext(
      'FROM scratch\nCOPY app.txt /app.txt\nRUN echo built > /etc/written-by-build\n',
    );
    const hostEnv = {
      GITHUB_TOKEN: 'ghs_secret',
      ACTIONS_RUNTIME_TOKEN: 'runtime',
      INPUT_REGISTRY_PASSWORD: 'pw',
      HTTPS_PROXY: 'http://user:proxy-secret@proxy.example:3128',
      no_proxy: 'localhost',
    };
    const result = await build(
      options(context, {
        hostEnv,
        buildArgs: HOSTILE.map((v, i) => `A${i}=${v}`),
      }),
    );

    expect(result.tarball).toMatch(new RegExp(`^${join(scratch, 'out', 'build-')}[^/]+/image\\.tar$`));
    expect(existsSync(result.tarball)).toBe(true);
    expect(result.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    // The executor's digest file agrees with the digest computed from the tarball.
    expect(readFileSync(join(buildFolderOf(result.tarball), 'digest'), 'utf8').trim()).toBe(result.digest);
    expect(result.identity.diffIds).toEqual(result.imageConfig.rootfs?.diff_ids);
    expect(result.identity.configDigest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(result.imageConfig.history?.map((entry) => entry.created_by)).toEqual([
      'COPY app.txt /app.txt',
      'RUN echo built > /etc/written-by-build',
    ]);
    expect(result.imageConfig.config?.Labels).toEqual({ 'org.opencontainers.image.revision': '0123456' });

    const argv = argvOf(buildFolderOf(result.tarball));
    expect(argv.slice(0, 3)).toEqual(['--force', '--context', 'dir:///workspace']);
    expect(argv.filter((_, i) => argv[i - 1] === '--build-arg')).toEqual([
      ...HOSTILE.map((v, i) => `A${i}=${v}`),
      'HTTPS_PROXY',
      'no_proxy',
    ]);

    const env = report(buildFolderOf(result.tarball), 'standin-env');
    expect(env).not.toMatch(/GITHUB_|ACTIONS_|INPUT_|RUNNER_|ghs_secret/);
    for (const line of [
      'HOME=/root',
      'USER=root',
      'PATH=/usr/local/bin:/kaniko',
      'SSL_CERT_DIR=/kaniko/ssl/certs',
      'DOCKER_CONFIG=/kaniko/.docker/',
      'HTTPS_PROXY=http://user:proxy-secret@proxy.example:3128',
      'no_proxy=localhost',
    ])
      expect(env.split('\n')).toContain(line);
    // The executor resolves value-less build args from its environment; argv never holds the value.
    expect(argv.join('\n')).not.toContain('proxy-secret');
    expect(report(buildFolderOf(result.tarball), 'standin-build-args').split('\0')).toEqual(
      expect.arrayContaining([
        'HTTPS_PROXY=http://user:proxy-secret@proxy.example:3128',
        'no_proxy=localhost',
      ]),
    );

    // Docker's default capabilities without net_raw (13): no sys_admin (21), mknod (27), sys_module (16),
    // sys_rawio (17), sys_ptrace (19), dac_read_search (2), net_admin (12), sys_boot (22), sys_time (25).
    const status = report(buildFolderOf(result.tarball), 'standin-status');
    const bounding = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1]}`);
    expect(bounding).toBe(0xa00405fbn);
    for (const dropped of [21, 27, 16, 17, 19, 2, 12, 13, 22, 25])
      expect(bounding & (1n << BigInt(dropped))).toBe(0n);

    const visible = report(buildFolderOf(result.tarball), 'standin-visible').split('\n');
    expect(visible).not.toContain(hostMarker);
    expect(visible.filter((path) => path.includes('runner-temp'))).toEqual([]);
    expect(visible.filter((path) => /\.docker|credential|config\.json/.test(path))).toEqual([]);
    expect(visible).toContain('/workspace/app.txt');
    expect(report(buildFolderOf(result.tarball), 'standin-context-writable')).toBe('no\n');
    const mounts = report(buildFolderOf(result.tarball), 'standin-mountinfo');
    // Mount points are the sandbox's own: nothing of the runner (RUNNER_TEMP, the cached root).
    const mountPoints = mounts
      .trim()
      .split('\n')
      .map((line) => line.split(' ')[4]!);
    expect(mountPoints[0]).toBe('/');
    for (const point of mountPoints)
      expect(point).toMatch(
        /^\/(proc(\/[\w-]+)?|dev(\/\w+)?|workspace|output|etc\/resolv\.conf|etc\/hosts)?$/,
      );
    expect(mounts).toMatch(/ \/workspace ro,/);
    expect(mounts).toMatch(/ \/etc\/resolv\.conf ro,/);
    expect(mounts).toMatch(/ \/etc\/hosts ro,/);

    expect(existsSync(join(context, '.standin-probe'))).toBe(false);
    expect(hashTree(root)).toBe(rootHash);
    expect(mountsUnder(runnerTemp)).toEqual([]);
    expect(mountsUnder(scratch)).toEqual([]);
    expect(readdirSync(runnerTemp)).toEqual(['runner-temp-marker']);
  });

  it('appends the runner CA bundle, gives resolv.conf and hosts read-only, and no registry credential', async () => {
    const context = makeContext(
      [
        'FROM scratch',
        'RUN cp /kaniko/ssl/certs/ca-certificates.crt /output/seen-ca && cat /etc/resolv.conf /etc/hosts > /output/seen-etc',
        'RUN if [ -e /kaniko/.docker/config.json ]; then echo present; else echo absent; fi > /output/seen-credential',
      ].join('\n'),
    );
    const result = await build(options(context));
    expect(report(buildFolderOf(result.tarball), 'seen-ca')).toBe(
      `${EXECUTOR_CA_MARKER}# runner CA bundle\n`,
    );
    expect(report(buildFolderOf(result.tarball), 'seen-etc')).toBe(
      // Its own network: names are asked of slirp4netns's forwarder, not the runner's resolver.
      'nameserver 10.0.2.3\n127.0.0.1 localhost runner-host\n',
    );
    expect(report(buildFolderOf(result.tarball), 'seen-credential')).toBe('absent\n');
  });

  it('mounts a Dockerfile that lives outside the context', async () => {
    const context = makeContext('FROM scratch\n');
    const elsewhere = join(scratch, 'docker files');
    mkdirSync(elsewhere);
    writeFileSync(join(elsewhere, 'Build.dockerfile'), 'FROM scratch AS release\nCOPY . /\n');
    const result = await build(
      options(context, { dockerfile: join(elsewhere, 'Build.dockerfile'), target: 'release' }),
    );
    const argv = argvOf(buildFolderOf(result.tarball));
    expect(argv.filter((_, i) => argv[i - 1] === '--dockerfile')).toEqual([
      '/kaniko/dockerfile/Build.dockerfile',
    ]);
    expect(argv.filter((_, i) => argv[i - 1] === '--target')).toEqual(['release']);
  });

  it('fails the stage with kaniko’s message and the Dockerfile line', async () => {
    const context = makeContext(
      'FROM scratch\nCOPY . /\n\nRUN echo compiling && \\\n    exit 3\nRUN echo never\n',
    );
    const failure = (await build(options(context)).catch((error: unknown) => error)) as Error;
    expect(failure.message).toMatch(
      /^kaniko failed with exit code 1 at .*Dockerfile:4: RUN echo compiling && +exit 3\nkaniko's last lines:\n/,
    );
    // The build's stdout and its stderr come through two pipes: their lines may interleave either way.
    const lastLines = failure.message.split("kaniko's last lines:\n")[1]!.split('\n');
    expect(lastLines).toContain('compiling');
    expect(lastLines.some((line) => line.startsWith('error building image'))).toBe(true);
    expect(hashTree(root)).toBe(rootHash);
    expect(readdirSync(runnerTemp)).toEqual(['runner-temp-marker']);
    expect(mountsUnder(scratch)).toEqual([]);
  });

  it('stops a build past the build stage’s limit with every process in it, naming stage, tool and limit', async () => {
    const context = makeContext('FROM scratch\nCOPY . /\nRUN sleep 3005\n');
    const stopped = build(options(context, { timeLimit: { stage: 'build', ms: 1_000 } }));
    await expect(stopped).rejects.toThrow(
      /^executor in the build sandbox timed out after 1 s in the build stage and was stopped with every process it started; raise `timeouts: build=…`/,
    );
    const survivors = readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((entry) => {
        try {
          return readFileSync(`/proc/${entry}/cmdline`, 'utf8').startsWith('sleep\u00003005');
        } catch {
          return false;
        }
      });
    expect(survivors).toEqual([]);
    expect(mountsUnder(scratch)).toEqual([]);
  });

  it('keeps the checkout token out of the build: sanitized git configs over the real ones, runner files unchanged', async () => {
    const token = 'ghs_checkouttoken123';
    const header = `AUTHORIZATION: basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
    const config = [
      '[core]',
      '\trepositoryformatversion = 0',
      '[remote "origin"]',
      `\turl = https://x-access-token:${token}@github.com/octo-org/app`,
      '[http "https://github.com/"]',
      `\textraheader = ${header}`,
      '',
    ].join('\n');
    const context = makeContext(
      [
        'FROM scratch',
        'COPY . /',
        'RUN cat /workspace/.git/config /workspace/.git/modules/lib/config /workspace/vendor/tool/.git/config > /output/seen-git-config',
      ].join('\n'),
    );
    mkdirSync(join(context, '.git', 'modules', 'lib'), { recursive: true });
    writeFileSync(join(context, '.git', 'config'), config);
    writeFileSync(join(context, '.git', 'modules', 'lib', 'config'), config);
    // A checkout inside the context (actions/checkout with `path:`), header and key on one line.
    const nested = `[http "https://github.com/"] extraHeader = ${header}\n`;
    mkdirSync(join(context, 'vendor', 'tool', '.git'), { recursive: true });
    writeFileSync(join(context, 'vendor', 'tool', '.git', 'config'), nested);
    const logged: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logged.push(String(chunk));
      return true;
    });
    let result;
    try {
      result = await build(options(context));
    } finally {
      write.mockRestore();
    }
    const seen = report(buildFolderOf(result.tarball), 'seen-git-config');
    expect(seen).toContain('repositoryformatversion = 0');
    expect(seen).toContain('url = https://github.com/octo-org/app');
    expect(seen).not.toContain(token);
    expect(seen).not.toContain(header);
    expect(seen.toLowerCase()).not.toContain('extraheader');
    // What `COPY . /` put into the image's layer.
    const layerName = execFileSync('tar', ['-tf', result.tarball], { encoding: 'utf8' })
      .split('\n')
      .find((name) => name.endsWith('.tar.gz'))!;
    const layer = execFileSync('tar', ['-xOf', result.tarball, layerName]);
    const copied = execFileSync('tar', ['-xzO', './.git/config'], { input: layer, encoding: 'utf8' });
    expect(copied).toBe(seen.slice(0, copied.length));
    expect(copied).not.toContain(token);
    const copiedNested = execFileSync('tar', ['-xzO', './vendor/tool/.git/config'], {
      input: layer,
      encoding: 'utf8',
    });
    expect(copiedNested).toBe('[http "https://github.com/"] \n');
    expect(readFileSync(join(context, '.git', 'config'), 'utf8')).toBe(config);
    expect(readFileSync(join(context, '.git', 'modules', 'lib', 'config'), 'utf8')).toBe(config);
    expect(readFileSync(join(context, 'vendor', 'tool', '.git', 'config'), 'utf8')).toBe(nested);
    const warnings = logged.filter((line) => line.includes('git credential'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /::warning::3 git configs .* hold a git credential: \.git\/config, .*vendor\/tool\/\.git\/config\..*persist-credentials: false/,
    );
    expect(mountsUnder(scratch)).toEqual([]);
  });

  it('fails clearly when the executor rejects its flags', async () => {
    const context = makeContext('FROM scratch\n');
    await expect(build(options(context, { kanikoArgs: ['--no-such-flag'] }))).rejects.toThrow(
      /before running any instruction[^]*unknown flag: --no-such-flag/,
    );
  });

  it('fails with an executor’s exit code 97 once, without rerunning it in a copied root', async () => {
    const executor = join(scratch, 'exits-97.sh');
    writeFileSync(executor, '#!/bin/sh\necho ran >> /output/runs\necho "executor gave up"\nexit 97\n');
    const root97 = makeTestRoot({ executor });
    try {
      const outputDir = join(scratch, 'out-97');
      await expect(
        build(options(makeContext('FROM scratch\n'), { rootfs: root97, outputDir })),
      ).rejects.toThrow(/kaniko failed with exit code 97 before running any instruction[^]*executor gave up/);
      const [folder] = readdirSync(outputDir);
      expect(readFileSync(join(outputDir, folder!, 'runs'), 'utf8')).toBe('ran\n');
    } finally {
      rmSync(root97, { recursive: true, force: true });
    }
  });

  it('runs two builds at once without interference', async () => {
    const one = makeContext('FROM scratch\nCOPY . /\nRUN echo one > /tmp/which\n', { 'which.txt': 'one' });
    const two = makeContext('FROM scratch\nCOPY . /\nRUN echo two > /tmp/which\n', { 'which.txt': 'two' });
    const [first, second] = await Promise.all([build(options(one)), build(options(two))]);
    expect(dirname(first.tarball)).not.toBe(dirname(second.tarball));
    expect(first.digest).not.toBe(second.digest);
    expect(report(buildFolderOf(first.tarball), 'standin-visible')).toContain('/workspace/which.txt');
    expect(first.imageConfig.history?.at(-1)?.created_by).toBe('RUN echo one > /tmp/which');
    expect(second.imageConfig.history?.at(-1)?.created_by).toBe('RUN echo two > /tmp/which');
    expect(hashTree(root)).toBe(rootHash);
    expect(mountsUnder(scratch)).toEqual([]);
  });

  it('builds the same way on a copied root when overlayfs is unavailable', async () => {
    const context = makeContext('FROM scratch\nCOPY . /\n');
    const result = await build(options(context, { strategy: 'copy', reproducible: true }));
    expect(readFileSync(join(buildFolderOf(result.tarball), 'digest'), 'utf8').trim()).toBe(result.digest);
    expect(argvOf(buildFolderOf(result.tarball))).toContain('--reproducible');
    expect(hashTree(root)).toBe(rootHash);
    expect(readdirSync(runnerTemp)).toEqual(['runner-temp-marker']);
  });

  it('computes the same digest as the tarball bytes say (independent check)', async () => {
    const context = makeContext('FROM scratch\nCOPY . /\n');
    const result = await build(options(context));
    const manifestBytes = Buffer.from((await readImageTarball(result.tarball)).manifest);
    expect(`sha256:${createHash('sha256').update(manifestBytes).digest('hex')}`).toBe(result.digest);
  });
});

describe('buildImage trusts nothing the build left in its output folder', () => {
  /** What buildImage wrote to the log (stdout, where @actions/core writes) while it ran. */
  async function buildLogged(buildOptions: TestBuild): Promise<{ log: string; failure?: Error }> {
    const logged: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logged.push(String(chunk));
      return true;
    });
    try {
      await build(buildOptions);
      return { log: logged.join('') };
    } catch (error) {
      return { log: logged.join(''), failure: error as Error };
    } finally {
      write.mockRestore();
    }
  }

  it('moves the tarball into a folder the build never saw and removes the output folder', async () => {
    removal.keepBuildFolders = false;
    try {
      const context = makeContext(
        'FROM scratch\nCOPY . /\nRUN touch /output/left-behind && chmod 4755 /output/left-behind\n',
      );
      const result = await build(options(context));
      const buildFolder = buildFolderOf(result.tarball);
      expect(buildFolder).toMatch(new RegExp(`^${join(scratch, 'out', 'build-')}\\w+$`));
      expect(dirname(result.tarball)).not.toBe(buildFolder);
      expect(statSync(dirname(result.tarball)).mode & 0o777).toBe(0o700);
      expect(pathsRecordedThisRun()).toContain(buildFolder);
      expect(existsSync(buildFolder)).toBe(false);
      expect((await readImageTarball(result.tarball)).digest).toBe(result.digest);
    } finally {
      removal.keepBuildFolders = true;
    }
  });

  it('never reads nor prints a runner file the digest file links to (kaniko writes through the link)', async () => {
    const secretText = `root:$6$runner-shadow-${process.pid}`;
    const secret = join(tmpdir(), `bsp-build-runner-secret-${process.pid}`);
    writeFileSync(secret, secretText);
    try {
      // The link's target exists in the sandbox too, so the executor's own write follows the link.
      const context = makeContext(
        `FROM scratch\nRUN mkdir -p ${tmpdir()} && ln -s ${secret} /output/digest\n`,
      );
      const { log, failure } = await buildLogged(options(context));
      expect(failure?.message).toMatch(/kaniko's digest file is refused: .*digest is a symbolic link/);
      expect(failure?.message).toMatch(/remove whatever in the Dockerfile writes to \/output/i);
      expect(failure?.message).not.toContain(secretText);
      expect(log).not.toContain(secretText);
      expect(readFileSync(secret, 'utf8')).toBe(secretText);
    } finally {
      rmSync(secret, { force: true });
    }
  });

  it('refuses an image.tar that links to another valid tarball, which the executor then wrote through', async () => {
    const other = join(tmpdir(), `bsp-build-other-${process.pid}.tar`);
    const planted = await writeImageTarball(other, { layers: [{ 'planted.txt': 'not from this build\n' }] });
    try {
      const context = makeContext(
        `FROM scratch\nCOPY . /\nRUN mkdir -p ${tmpdir()} && ln -s ${other} /output/image.tar\n`,
      );
      const { failure } = await buildLogged(options(context));
      expect(failure?.message).toMatch(/kaniko's image tarball is refused: .*image\.tar is a symbolic link/);
      expect((await readImageTarball(other)).digest).toBe(planted.digest);
    } finally {
      rmSync(other, { force: true });
    }
  });

  /**
   * A root whose executor runs the stand-in and then `after` in /output: what a process the build
   * started could still do there after kaniko wrote its results, until the sandbox ends.
   */
  function rootTamperingAfterKaniko(after: string): string {
    const wrapper = join(scratch, `after-kaniko-${++contexts}.sh`);
    writeFileSync(wrapper, `#!/bin/sh\n/kaniko/executor-standin "$@" || exit\ncd /output && ${after}\n`);
    const tampering = makeTestRoot({ executor: wrapper });
    copyFileSync(STANDIN_EXECUTOR, join(tampering, 'kaniko', 'executor-standin'));
    chmodSync(join(tampering, 'kaniko', 'executor-standin'), 0o755);
    return tampering;
  }

  it('says a digest file that holds no digest is not one, without echoing it', async () => {
    const rootfs = rootTamperingAfterKaniko('echo "ghs_not-a-digest-secret" > digest');
    try {
      const { log, failure } = await buildLogged(
        options(makeContext('FROM scratch\nCOPY . /\n'), { rootfs }),
      );
      expect(failure).toBeUndefined();
      expect(log).toMatch(/::warning::kaniko's digest file \S+ is not a digest; it is ignored/);
      expect(log).not.toContain('ghs_not-a-digest-secret');
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  });

  it('refuses a digest file replaced by a fifo without waiting on it', async () => {
    const rootfs = rootTamperingAfterKaniko('rm digest && mkfifo digest');
    try {
      const { failure } = await buildLogged(options(makeContext('FROM scratch\nCOPY . /\n'), { rootfs }));
      expect(failure?.message).toMatch(
        /kaniko's digest file is refused: .*digest is a fifo, not a regular file/,
      );
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  });

  it('refuses an image.tar with a second hard link, through which it could be changed', async () => {
    const context = makeContext(
      'FROM scratch\nCOPY . /\nRUN touch /output/twin && ln /output/twin /output/image.tar\n',
    );
    const { failure } = await buildLogged(options(context));
    expect(failure?.message).toMatch(/kaniko's image tarball is refused: .*image\.tar has 2 hard links/);
  });
});
