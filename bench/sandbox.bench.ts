/**
 * What the build sandbox costs: setup plus teardown (overlay, namespaces, mounts, cleanup) around
 * a program that does nothing, and a whole stand-in build in the sandbox next to the same stand-in
 * run directly (a plain chroot into a writable copy of the root, no namespaces or mounts).
 */
import { Registries } from '../src/registries.js';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, kanikoArgv } from '../src/build/kaniko-build.js';
import { runInSandbox } from '../src/build/sandbox.js';
import { finishBackgroundRemovals } from '../src/cleanup.js';
import { makeTestRoot } from '../test/helpers/rootfs.js';
import { formatTiming, time } from './measure.js';

const RUNS = 9;
/** From the repository root: the bundled benchmark runs from a temporary folder. */
const STANDIN = join(import.meta.dirname, '..', 'test/standins/kaniko-executor-standin.sh');

const scratch = mkdtempSync(join(tmpdir(), 'bench-sandbox-'));
const root = makeTestRoot({ executor: STANDIN });
try {
  const context = join(scratch, 'context');
  mkdirSync(context);
  writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nCOPY . /app\nRUN echo built > /built\n');
  writeFileSync(join(context, 'app.txt'), 'hello\n'.repeat(1000));
  const tempDir = join(scratch, 'runner-temp');
  const build = {
    image: 'ghcr.io/octo-org/app',
    firstTag: 'bench',
    buildArgs: [],
    labels: { 'org.opencontainers.image.title': 'bench' },
    target: '',
    platform: { os: 'linux', architecture: 'amd64' },
    reproducible: true,
    insecureRegistries: [],
    extraArgs: [],
  };

  const overhead = (strategy: 'auto' | 'copy') => () =>
    runInSandbox({ rootfs: root, tempDir, argv: ['/bin/true'], env: {}, title: 'bench', strategy });
  // The sandbox's removal, which buildImage leaves running, is part of the figure.
  const sandboxed = (strategy: 'auto' | 'copy') => async () => {
    await buildImage(
      {
        ...build,
        context,
        dockerfile: join(context, 'Dockerfile'),
        kanikoArgs: [],
        network: 'isolated',
        loopbackPorts: [],
      },
      {
        ...build,
        rootfs: root,
        outputDir: join(scratch, 'out'),
        tempDir,
        registries: new Registries(),
        hostEnv: {},
        strategy,
      },
    );
    await finishBackgroundRemovals();
  };

  const direct = join(scratch, 'direct-root');
  cpSync(root, direct, { recursive: true, verbatimSymlinks: true });
  cpSync(context, join(direct, 'workspace'), { recursive: true });
  mkdirSync(join(direct, 'output'));
  const argv = kanikoArgv({ ...build, dockerfile: '/workspace/Dockerfile', proxy: [] });
  const directRun = () =>
    execFileSync('/usr/sbin/chroot', [direct, '/kaniko/executor', ...argv], {
      env: { PATH: '/bin' },
      stdio: 'ignore',
    });

  const quiet = async <T>(task: () => Promise<T>): Promise<T> => {
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = () => true;
    try {
      return await task();
    } finally {
      process.stdout.write = write;
    }
  };
  const results = await quiet(async () => ({
    overlay: await time(overhead('auto'), RUNS),
    copy: await time(overhead('copy'), RUNS),
    buildOverlay: await time(sandboxed('auto'), RUNS),
    buildCopy: await time(sandboxed('copy'), RUNS),
    direct: await time(directRun, RUNS),
  }));
  console.log(formatTiming('sandbox setup+teardown, overlay (/bin/true)', results.overlay));
  console.log(formatTiming('sandbox setup+teardown, copied root (/bin/true)', results.copy));
  console.log(formatTiming('stand-in build in the sandbox (overlay)', results.buildOverlay));
  console.log(formatTiming('stand-in build in the sandbox (copied root)', results.buildCopy));
  console.log(formatTiming('stand-in run directly (plain chroot)', results.direct));
  console.log(
    `overhead of the sandbox around the stand-in: ${(results.buildOverlay.median - results.direct.median).toFixed(1)} ms (overlay)`,
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
}
