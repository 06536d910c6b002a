import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { KanikoInstallOptions } from '../../src/tools/install-kaniko.js';
import { installKaniko } from '../../src/tools/install-kaniko.js';
import type { ImageTarball, LayerFiles } from '../helpers/image-tarball.js';
import { CRANE_STANDIN, pushImageIndex, writeImageTarball } from '../helpers/image-tarball.js';
import type { RunningRegistry } from '../helpers/registry.js';
import { startRegistry } from '../helpers/registry.js';
import { Registries } from '../../src/registries.js';

let registry: RunningRegistry;
let work: string;
/** A shell wrapper named `crane` that runs the crane stand-in, as the installed crane would be. */
let crane: string;
let single: ImageTarball;
let amd64: ImageTarball;
let arm64: ImageTarball;
let indexDigest: string;
let folder: string;

/** An executor image's files: the executor, its certificates, a file removed by a later layer. */
function executorLayers(platform: string): LayerFiles[] {
  return [
    {
      'kaniko/executor': `#!/bin/sh\n# Stand-in executor for ${platform}; not kaniko.\n`,
      'kaniko/ssl/certs/ca-certificates.crt': 'certificates\n',
      'kaniko/.docker/': '',
      'etc/removed-later': 'gone\n',
    },
    { 'etc/.wh.removed-later': '', 'workspace/': '' },
  ];
}

async function pushTarball(image: { tarball: string; reference: string }): Promise<void> {
  await promisify(execFile)(process.execPath, [
    CRANE_STANDIN,
    'push',
    '--insecure',
    image.tarball,
    image.reference,
  ]);
}

beforeAll(async () => {
  registry = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'kaniko-test-'));
  crane = join(work, 'crane');
  writeFileSync(crane, `#!/bin/sh\nexec '${process.execPath}' '${CRANE_STANDIN}' "$@"\n`);
  chmodSync(crane, 0o755);

  const tarball = (name: string): string => join(work, `${name}.tar`);
  single = await writeImageTarball(tarball('single'), { layers: executorLayers('single') });
  await pushTarball({ tarball: tarball('single'), reference: `${registry.host}/kaniko/executor:single` });
  amd64 = await writeImageTarball(tarball('amd64'), {
    layers: executorLayers('linux/amd64'),
    config: { architecture: 'amd64' },
  });
  arm64 = await writeImageTarball(tarball('arm64'), {
    layers: executorLayers('linux/arm64'),
    config: { architecture: 'arm64' },
  });
  indexDigest = await pushImageIndex({
    registry: registry.host,
    repository: 'kaniko/executor',
    tag: 'multi',
    images: [
      { tarball: tarball('amd64'), image: amd64, platform: { os: 'linux', architecture: 'amd64' } },
      { tarball: tarball('arm64'), image: arm64, platform: { os: 'linux', architecture: 'arm64' } },
    ],
  });
  const bare = await writeImageTarball(tarball('bare'), { layers: [{ 'etc/hostname': 'no executor\n' }] });
  expect(bare.digest).toMatch(/^sha256:/);
  await pushTarball({ tarball: tarball('bare'), reference: `${registry.host}/busybox:latest` });
}, 60_000);

afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), 'kaniko-cache-'));
  process.env.RUNNER_TOOL_CACHE = join(folder, 'tool-cache');
});

afterEach(() => rmSync(folder, { recursive: true, force: true }));

function options(overrides: Partial<KanikoInstallOptions> = {}): KanikoInstallOptions {
  return {
    image: `${registry.host}/kaniko/executor:single`,
    arch: 'x64',
    crane: () => Promise.resolve(crane),
    registries: new Registries({ insecure: [registry.host] }),
    ...overrides,
  };
}

const noCrane = (): Promise<string> =>
  Promise.reject(new Error('crane was asked for: the cache should have served'));

/** Every path below `root` with its type, mode and content hash (or link target). */
function fingerprint(root: string): string[] {
  const lines: string[] = [];
  const walk = (relative: string): void => {
    const path = join(root, relative);
    const stat = lstatSync(path);
    const mode = (stat.mode & 0o7777).toString(8);
    if (stat.isDirectory()) {
      lines.push(`${relative}/ ${mode} ${stat.mtimeMs}`);
      for (const child of readdirSync(path).sort()) walk(join(relative, child));
    } else if (stat.isSymbolicLink()) lines.push(`${relative} -> ${readlinkSync(path)}`);
    else
      lines.push(
        `${relative} ${mode} ${stat.mtimeMs} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`,
      );
  };
  walk('.');
  return lines;
}

describe('installKaniko', () => {
  it('exports a single-platform image by tag, flattened, into the tool cache keyed by its digest', async () => {
    const kaniko = await installKaniko(options());
    expect(kaniko).toEqual({
      rootfs: join(
        process.env.RUNNER_TOOL_CACHE!,
        'kaniko',
        single.digest.replace(':', '-'),
        'x64',
        'rootfs',
      ),
      image: `${registry.host}/kaniko/executor:single`,
      platformDigest: single.digest,
      source: registry.host,
    });
    expect(readFileSync(join(kaniko.rootfs, 'kaniko/executor'), 'utf8')).toContain('executor for single');
    expect(existsSync(join(kaniko.rootfs, 'kaniko/ssl/certs/ca-certificates.crt'))).toBe(true);
    expect(existsSync(join(kaniko.rootfs, 'etc/removed-later'))).toBe(false);
    expect(existsSync(join(kaniko.rootfs, 'etc/.wh.removed-later'))).toBe(false);
    expect(
      readdirSync(join(process.env.RUNNER_TOOL_CACHE!, 'kaniko', single.digest.replace(':', '-'))),
    ).toEqual(['x64', 'x64.complete']);
  });

  it.each([
    ['x64', 'linux/amd64'],
    ['arm64', 'linux/arm64'],
  ] as const)('exports the %s child of a multi-platform index pinned by digest', async (arch, platform) => {
    const image = `${registry.host}/kaniko/executor:multi@${indexDigest}`;
    const kaniko = await installKaniko(options({ image, arch }));
    expect(kaniko.indexDigest).toBe(indexDigest);
    expect(kaniko.platformDigest).toBe((arch === 'x64' ? amd64 : arm64).digest);
    expect(readFileSync(join(kaniko.rootfs, 'kaniko/executor'), 'utf8')).toContain(
      `executor for ${platform}`,
    );
  });

  it('a pinned image in a warm cache needs neither crane nor the registry, and the root is unchanged', async () => {
    const image = `${registry.host}/kaniko/executor@${indexDigest}`;
    const first = await installKaniko(options({ image }));
    const before = fingerprint(first.rootfs);
    const second = await installKaniko(
      options({ image, crane: noCrane, registries: new Registries({ insecure: [] }) }),
    );
    expect(second).toEqual({ ...first, source: 'tool cache' });
    expect(fingerprint(second.rootfs)).toEqual(before);
  });

  it('a tag that resolves to a cached digest is not exported again', async () => {
    const first = await installKaniko(
      options({ image: `${registry.host}/kaniko/executor@${single.digest}` }),
    );
    const before = fingerprint(first.rootfs);
    const second = await installKaniko(options());
    expect(second).toEqual({
      ...first,
      image: `${registry.host}/kaniko/executor:single`,
      source: 'tool cache',
    });
    expect(second.rootfs).toBe(first.rootfs);
    expect(fingerprint(second.rootfs)).toEqual(before);
  });

  it.each([
    ['passes --insecure for a registry in insecure-registries', true],
    ['passes no --insecure for other registries', false],
  ])('%s', async (_title, insecure) => {
    const argvFile = join(folder, 'crane-argv');
    const recorder = join(folder, 'crane-recorder');
    writeFileSync(recorder, `#!/bin/sh\necho "$*" >> '${argvFile}'\nexec '${crane}' "$@"\n`);
    chmodSync(recorder, 0o755);
    await installKaniko(
      options({
        crane: () => Promise.resolve(recorder),
        registries: new Registries({ insecure: insecure ? [registry.host] : ['other:5000'] }),
      }),
    );
    const image = `${registry.host}/kaniko/executor`;
    const flag = insecure ? '--insecure ' : '';
    expect(readFileSync(argvFile, 'utf8').trim().split('\n')).toEqual([
      `digest ${flag}${image}:single`,
      `digest ${flag}--platform linux/amd64 ${image}@${single.digest}`,
      `export ${flag}--platform linux/amd64 ${image}@${single.digest} -`,
    ]);
  });

  it('a missing tag fails with crane’s error', async () => {
    await expect(installKaniko(options({ image: `${registry.host}/kaniko/executor:nope` }))).rejects.toThrow(
      /crane digest .*executor:nope failed[\s\S]*MANIFEST_UNKNOWN/,
    );
  });

  it('an image without /kaniko/executor fails and caches nothing', async () => {
    await expect(installKaniko(options({ image: `${registry.host}/busybox:latest` }))).rejects.toThrow(
      /has no \/kaniko\/executor: `kaniko-image` must name a kaniko executor image/,
    );
    const digests = readdirSync(join(process.env.RUNNER_TOOL_CACHE!, 'kaniko'));
    expect(
      digests.flatMap((digest) => readdirSync(join(process.env.RUNNER_TOOL_CACHE!, 'kaniko', digest))),
    ).toEqual([]);
  });

  it('a failed export reports crane’s error and leaves nothing in the cache', async () => {
    const failing = join(folder, 'crane-failing-export');
    writeFileSync(
      failing,
      `#!/bin/sh\nif [ "$1" = export ]; then printf 'partial' ; echo 'Error: pulling: unexpected EOF' >&2; exit 1; fi\nexec '${crane}' "$@"\n`,
    );
    chmodSync(failing, 0o755);
    await expect(installKaniko(options({ crane: () => Promise.resolve(failing) }))).rejects.toThrow(
      /crane export --platform linux\/amd64 .*@sha256:[a-f0-9]{64} failed with exit code 1:\nError: pulling: unexpected EOF/,
    );
    const digestFolder = join(process.env.RUNNER_TOOL_CACHE!, 'kaniko', single.digest.replace(':', '-'));
    expect(readdirSync(digestFolder)).toEqual([]);
  });

  it('gives crane a minimal environment: no GITHUB_TOKEN, no INPUT_*, not the runner DOCKER_CONFIG', async () => {
    const envFile = join(folder, 'crane-env');
    const recorder = join(folder, 'crane-recorder');
    writeFileSync(recorder, `#!/bin/sh\nenv > '${envFile}'\nexit 1\n`);
    chmodSync(recorder, 0o755);
    process.env.GITHUB_TOKEN = 'ghs_secret';
    process.env.INPUT_REGISTRY_PASSWORD = 'hunter2';
    process.env.DOCKER_CONFIG = '/home/runner/.docker';
    try {
      await expect(installKaniko(options({ crane: () => Promise.resolve(recorder) }))).rejects.toThrow(
        /crane digest/,
      );
    } finally {
      delete process.env.GITHUB_TOKEN;
      delete process.env.INPUT_REGISTRY_PASSWORD;
      delete process.env.DOCKER_CONFIG;
    }
    const names = readFileSync(envFile, 'utf8')
      .split('\n')
      .map((line) => line.split('=', 1)[0])
      .filter((name) => name && name !== 'PWD' && name !== 'SHLVL' && name !== '_');
    expect(
      names.every((name) =>
        /^(PATH|HOME|SSL_CERT_(FILE|DIR)|(HTTPS?|NO)_PROXY|(https?|no)_proxy)$/.test(name!),
      ),
    ).toBe(true);
  });
});
