// The versus bench's scenario, shared with the steps bench: the build context (2,000 files,
// 80 MB, four instructions) and the same tools run by hand, one after another as a script would:
// kaniko in the build sandbox (the real kaniko would need one too: it takes over the root it runs
// in), then `trivy image --download-db-only`, `trivy image --input`, `trivy convert` to SARIF,
// `crane auth login`, `crane push` and one `crane tag` per further tag.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EXECUTOR_ENV, kanikoArgv } from '../src/build/kaniko-build.js';
import { runInSandbox } from '../src/build/sandbox.js';
import { PASSWORD, standinWrapper } from '../test/helpers/action-harness.js';
import { CRANE_STANDIN } from '../test/helpers/image-tarball.js';
import { TRIVY_STANDIN } from '../test/helpers/trivy-standin.js';

export const FILES = 2_000;
export const TOTAL_BYTES = 80 << 20;
export const DOCKERFILE = 'FROM scratch\nCOPY . /\nENV APP_HOME=/srv\nWORKDIR /srv\n';
export const TAGS = ['main', 'sha-c0ffee0'];
const DB_REPOSITORY = 'mirror.gcr.io/aquasec/trivy-db:2';
const execute = promisify(execFile);

/** 2,000 files of 40 KiB, half random and half text: about 2:1 under gzip, like a built app. */
export function makeContext(dir: string): void {
  writeFileSync(join(dir, 'Dockerfile'), DOCKERFILE);
  writeFileSync(join(dir, 'trivy-standin-report'), 'alpine-310.json\n');
  const size = TOTAL_BYTES / FILES;
  for (let i = 0; i < FILES; i++) {
    const sub = join(dir, 'app', `pkg-${i % 50}`);
    mkdirSync(sub, { recursive: true });
    const text = Buffer.from(`module ${i}: ${'lorem ipsum dolor sit amet '.repeat(size / 54)}`).subarray(
      0,
      size / 2,
    );
    writeFileSync(join(sub, `file-${i}.bin`), Buffer.concat([randomBytes(size / 2), text]));
  }
}

export interface ByHand {
  readonly rootfs: string;
  readonly context: string;
  readonly bin: string;
  readonly registry: string;
}

/**
 * A folder with `trivy` and `crane`: the stand-ins behind `wrap`, by default the wrappers the
 * action's releases hold.
 */
export function byHandBin(
  dbFetchSeconds: number,
  wrap = (tool: string, script: string): string => standinWrapper(tool, script, { dbFetchSeconds }),
): string {
  const bin = mkdtempSync(join(tmpdir(), 'bench-by-hand-bin-'));
  for (const [name, script] of [
    ['trivy', TRIVY_STANDIN],
    ['crane', CRANE_STANDIN],
  ] as const) {
    writeFileSync(join(bin, name), wrap(name, script));
    chmodSync(join(bin, name), 0o755);
  }
  return bin;
}

/**
 * The tools one after another, as a script would run them; returns milliseconds. `built` hears
 * when kaniko's sandbox has ended (the steps bench's timeline).
 */
export async function runByHand(setup: ByHand, repository: string, built?: () => void): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'bench-by-hand-'));
  const output = join(work, 'output');
  mkdirSync(output);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, DOCKER_CONFIG: join(work, 'docker') };
  const tool = (name: string, args: string[], input?: string) => {
    const child = execute(join(setup.bin, name), args, { env, cwd: work, maxBuffer: 64 << 20 });
    if (input !== undefined) child.child.stdin?.end(input);
    return child;
  };
  const image = `${setup.registry}/octo-org/${repository}`;
  // As the action's runs in the benches: nothing of an earlier run waits to be written to disk.
  execFileSync('sync');
  const started = process.hrtime.bigint();
  const sandbox = await runInSandbox({
    rootfs: setup.rootfs,
    tempDir: join(work, 'sandbox'),
    argv: [
      '/kaniko/executor',
      ...kanikoArgv({
        dockerfile: '/workspace/Dockerfile',
        image,
        firstTag: TAGS[0]!,
        buildArgs: [],
        labels: {},
        target: '',
        platform: { os: 'linux', architecture: 'amd64' },
        reproducible: true,
        insecureRegistries: [],
        proxy: [],
        extraArgs: [],
      }),
    ],
    env: EXECUTOR_ENV,
    mounts: [
      { source: setup.context, target: '/workspace', readOnly: true },
      { source: output, target: '/output', readOnly: false },
    ],
    title: 'kaniko by hand',
  });
  if (sandbox.exitCode !== 0) throw new Error(`kaniko by hand failed:\n${sandbox.tail}`);
  built?.();
  const cache = join(work, 'trivy-cache');
  await tool('trivy', [
    'image',
    '--download-db-only',
    '--cache-dir',
    cache,
    '--db-repository',
    DB_REPOSITORY,
  ]);
  const tarball = join(output, 'image.tar');
  const report = join(work, 'report.json');
  const scanFlags = ['--format', 'json', '--output', report];
  await tool('trivy', ['image', '--input', tarball, ...scanFlags, '--cache-dir', cache, '--skip-db-update']);
  await tool('trivy', ['convert', '--format', 'sarif', '--output', join(work, 'report.sarif'), report]);
  await tool('crane', ['auth', 'login', setup.registry, '-u', 'octocat', '--password-stdin'], PASSWORD);
  await tool('crane', ['push', '--insecure', tarball, `${image}:${TAGS[0]}`]);
  for (const tag of TAGS.slice(1)) await tool('crane', ['tag', '--insecure', `${image}:${TAGS[0]}`, tag]);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  rmSync(work, { recursive: true, force: true });
  return elapsed;
}
