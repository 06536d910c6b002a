// The base image facts against a real registry, through the crane stand-in: the digest the labels
// carry is the one the registry serves for the platform, and a tag moved between that resolution
// and kaniko's pull is caught when the built layers are checked.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BaseImageRegistryOptions } from '../../src/build/base-image-registry.js';
import { checkBaseImage, resolveBaseImage } from '../../src/build/base-image-registry.js';
import { BASE_DIGEST_LABEL, BASE_NAME_LABEL, withBaseLabels } from '../../src/build/base-image.js';
import { Registries } from '../../src/registries.js';
import type { ImageTarball, IndexPlatform } from '../helpers/image-tarball.js';
import { CRANE_STANDIN, pushImageIndex, writeImageTarball } from '../helpers/image-tarball.js';
import type { RunningRegistry } from '../helpers/registry.js';
import { startRegistry } from '../helpers/registry.js';

let registry: RunningRegistry;
let work: string;
let options: BaseImageRegistryOptions & { platform: string };

/** Puts a two-platform base under `base:<tag>`; its images, by platform. */
async function pushBase(tag: string, content: string): Promise<Record<'amd64' | 'arm64', ImageTarball>> {
  const platforms: Record<'amd64' | 'arm64', IndexPlatform> = {
    amd64: { os: 'linux', architecture: 'amd64' },
    arm64: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  };
  const images = await Promise.all(
    Object.entries(platforms).map(async ([arch, platform]) => {
      const tarball = join(work, `${tag}-${content}-${arch}.tar`);
      const files = { 'etc/base-release': `${content} ${arch}\n` };
      const image = await writeImageTarball(tarball, {
        layers: [files, { 'usr/lib/extra': content }],
        config: { ...platform },
      });
      return { tarball, image, platform };
    }),
  );
  await pushImageIndex({ registry: registry.host, repository: 'base', tag, images });
  return { amd64: images[0]!.image, arm64: images[1]!.image };
}

/** A Dockerfile whose final stage is built on `base:1` through a stage and a global ARG. */
async function dockerfile(): Promise<string> {
  const path = join(work, 'Dockerfile');
  await writeFile(
    path,
    `ARG BASE=${registry.host}/base:1\nFROM $BASE AS runtime\nRUN true\nFROM runtime\nCOPY . /\n`,
  );
  return path;
}

const build = (path: string) => ({ dockerfile: path, target: '', buildArgs: [] });

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'base-image-'));
  options = {
    cranePath: CRANE_STANDIN,
    registries: new Registries({ insecure: [registry.host], mask: () => undefined }),
    tempDir: join(work, 'private'),
    buildPlatform: 'linux/amd64',
    platform: 'linux/amd64',
  };
}, 60_000);

afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('base image facts', () => {
  it('label the final stage’s base with the digest the registry serves for the build’s platform', async () => {
    const base = await pushBase('1', 'first');
    const path = await dockerfile();
    const amd64 = await resolveBaseImage(build(path), options);
    expect(amd64).toEqual({
      name: `${registry.host}/base:1`,
      digest: base.amd64.digest,
      reference: `${registry.host}/base:1`,
      platform: 'linux/amd64',
    });
    // The same digest as the registry itself answers for that manifest.
    const served = await fetch(`http://${registry.host}/v2/base/manifests/${base.amd64.digest}`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(served.headers.get('docker-content-digest')).toBe(amd64!.digest);
    expect(withBaseLabels({}, amd64!)).toEqual({
      [BASE_NAME_LABEL]: `${registry.host}/base:1`,
      [BASE_DIGEST_LABEL]: base.amd64.digest,
    });
    const arm64 = await resolveBaseImage(build(path), { ...options, platform: 'linux/arm64/v8' });
    expect(arm64?.digest).toBe(base.arm64.digest);

    // Built on exactly those layers, with one of its own on top: the label tells the truth.
    const ownLayer = `sha256:${'c'.repeat(64)}`;
    const builtOn = (image: ImageTarball) => ({
      configDigest: `sha256:${'d'.repeat(64)}`,
      diffIds: [...image.layers.map((layer) => layer.diffId), ownLayer],
    });
    await expect(checkBaseImage(amd64!, builtOn(base.amd64), options)).resolves.toBeUndefined();
    // Another platform's layers are not this base's.
    await expect(checkBaseImage(amd64!, builtOn(base.arm64), options)).rejects.toThrow(
      /moved during the build/,
    );
  });

  it('a base tag moved after the resolution and before kaniko’s pull fails the check', async () => {
    await pushBase('1', 'before');
    const resolved = await resolveBaseImage(build(await dockerfile()), options);
    // The tag moves; kaniko pulls what it names now and builds on those layers.
    const moved = await pushBase('1', 'after');
    const built = {
      configDigest: `sha256:${'e'.repeat(64)}`,
      diffIds: moved.amd64.layers.map((l) => l.diffId),
    };
    const failure = checkBaseImage(resolved!, built, options);
    await expect(failure).rejects.toThrow(`the base image ${registry.host}/base:1 moved during the build`);
    await expect(failure).rejects.toThrow(
      `Re-run the build, or pin the FROM line by digest (FROM ${registry.host}/base@${resolved!.digest})`,
    );
    await expect(failure).rejects.toThrow(`layer 1 of the built image is ${moved.amd64.layers[0]!.diffId}`);
  });

  it('crane asks anonymously, as kaniko pulls: an empty DOCKER_CONFIG, never the runner’s', async () => {
    await pushBase('1', 'anonymous');
    const log = join(work, 'crane-env.log');
    const wrapper = join(work, 'crane-logging-env');
    await writeFile(
      wrapper,
      `#!/bin/sh\nprintf '%s %s\\n' "$DOCKER_CONFIG" "$(ls -A "$DOCKER_CONFIG")" >> '${log}'\nexec '${CRANE_STANDIN}' "$@"\n`,
      { mode: 0o755 },
    );
    const resolved = await resolveBaseImage(build(await dockerfile()), { ...options, cranePath: wrapper });
    expect(resolved).toBeDefined();
    expect(await readFile(log, 'utf8')).toBe(`${join(options.tempDir, 'anonymous-docker-config')} \n`);
  });

  it('a base that cannot be resolved fails before the build, naming the FROM image and what to check', async () => {
    const path = join(work, 'Dockerfile.missing');
    await writeFile(path, `FROM ${registry.host}/nothing-here:1\n`);
    await expect(resolveBaseImage(build(path), options)).rejects.toThrow(
      new RegExp(
        `the base image ${registry.host}/nothing-here:1 \\(linux/amd64\\) of .* could not be resolved`,
      ),
    );
  });
});

describe('the crane stand-in’s config, as crane v0.21.9 prints it', () => {
  it('prints the raw config blob with no newline, the index resolved to --platform', async () => {
    const base = await pushBase('2', 'config');
    const run = (args: string[]) => promisify(execFile)(CRANE_STANDIN, args, { encoding: 'utf8' });
    const raw = (await run(['config', `${registry.host}/base@${base.arm64.digest}`])).stdout;
    expect(raw.endsWith('}')).toBe(true);
    expect((JSON.parse(raw) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids).toEqual(
      base.arm64.layers.map((layer) => layer.diffId),
    );
    const indexed = (await run(['config', '--platform', 'linux/arm64', `${registry.host}/base:2`])).stdout;
    expect(indexed).toBe(raw);
    await expect(run(['config'])).rejects.toThrow(/accepts 1 arg\(s\), received 0/);
    await expect(run(['config', `${registry.host}/base:none`])).rejects.toThrow(
      /fetching config: reading image ".*base:none"/,
    );
  });
});
