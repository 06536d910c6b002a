// The kaniko stand-in's platforms through the real sandbox: a two-platform busybox base pulled
// from a loopback registry (reached from the sandbox's own network through loopbackPorts), its
// arm64 RUN lines under QEMU, and what kaniko v1.28.2 makes of FROM --platform and the
// predefined platform args.
import type { Platform } from '../../src/platform.js';
import { runnerPlatform } from '../../src/platform.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BuildResult } from '../../src/build/kaniko-build.js';
import { buildImage, describeBuild } from '../../src/build/kaniko-build.js';
import { readImageTarball } from '../../src/build/tarball.js';
import { finishBackgroundRemovals } from '../../src/cleanup.js';
import { Registries } from '../../src/registries.js';
import type { BusyboxPlatformIndex } from '../helpers/busybox-platform-index.js';
import { arm64EmulationProblem, pushBusyboxPlatformIndex } from '../helpers/busybox-platform-index.js';
import type { RunningRegistry } from '../helpers/registry.js';
import { startRegistry } from '../helpers/registry.js';
import { makeTestRoot } from '../helpers/rootfs.js';

let registry: RunningRegistry;
let index: BusyboxPlatformIndex;
let root: string;
let scratch: string;
/** What `uname -m` says and kaniko names the machine this runs on (platforms.DefaultSpec). */
const BUILD =
  arch() === 'arm64'
    ? { uname: 'aarch64', platform: 'linux/arm64' }
    : { uname: 'x86_64', platform: 'linux/amd64' };

beforeAll(async () => {
  const problem = arm64EmulationProblem();
  if (problem) throw new Error(`arm64 emulation is not set up: ${problem}`);
  registry = await startRegistry();
  index = await pushBusyboxPlatformIndex({ registry: registry.host });
  root = makeTestRoot();
  scratch = mkdtempSync(join(tmpdir(), 'bsp-platforms-'));
}, 60_000);

afterAll(async () => {
  await registry?.stop();
  for (const path of [root, scratch]) if (path) rmSync(path, { recursive: true, force: true });
});

let contexts = 0;

/**
 * Builds `dockerfile` with `--custom-platform=<platform>` (when given) in the sandbox, the registry's
 * port reachable; the build's log (what buildImage wrote to stdout) and its result or failure.
 */
async function build(
  dockerfile: string,
  options: { platform?: string; loopback?: boolean; buildArgs?: string[] } = {},
): Promise<{ log: string; result?: BuildResult; failure?: Error }> {
  const context = join(scratch, `context-${++contexts}`);
  mkdirSync(context);
  writeFileSync(join(context, 'Dockerfile'), dockerfile);
  writeFileSync(join(context, 'app.txt'), 'hello\n');
  const request = {
    context,
    dockerfile: join(context, 'Dockerfile'),
    buildArgs: options.buildArgs ?? [],
    labels: { 'org.opencontainers.image.revision': '0123456' },
    target: '',
    reproducible: false,
    // --custom-platform as the action writes it (kanikoArgv), the value as given here.
    platform: options.platform ? asWritten(options.platform) : runnerPlatform(),
    kanikoArgs: [],
    network: 'isolated' as const,
    loopbackPorts: options.loopback === false ? [] : [Number(registry.host.split(':')[1])],
  };
  const logged: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    logged.push(String(chunk));
    return true;
  });
  try {
    const built = await buildImage(request, {
      rootfs: root,
      outputDir: join(scratch, 'out'),
      tempDir: scratch,
      image: 'ghcr.io/octo-org/app',
      firstTag: `platforms-${contexts}`,
      registries: new Registries({}),
      hostEnv: {},
    });
    return { log: logged.join(''), result: await describeBuild(built) };
  } catch (error) {
    return { log: logged.join(''), failure: error as Error };
  } finally {
    write.mockRestore();
    expect(await finishBackgroundRemovals()).toEqual([]);
  }
}

/** `os/arch[/variant]` as written, not normalized: what --custom-platform then says. */
function asWritten(platform: string): Platform {
  const [os = '', architecture = '', variant] = platform.split('/');
  return { os, architecture, ...(variant ? { variant } : {}) };
}

describe('the kaniko stand-in builds on a real two-platform base', () => {
  it.each([
    { platform: 'linux/amd64', uname: 'x86_64', arch: 'amd64' as const, base: 'linux/amd64' },
    { platform: 'linux/arm64', uname: 'aarch64', arch: 'arm64' as const, base: 'linux/arm64/v8' },
  ])(
    '$platform: RUN runs on that platform’s base, and the image is the base’s layers and one more',
    async (want) => {
      const { log, result, failure } = await build(
        `FROM ${index.reference}\nRUN uname -m\nRUN cat /etc/base-platform\nRUN echo "env $BASE_PLATFORM"\nCOPY app.txt /app.txt\n`,
        { platform: want.platform },
      );
      expect(failure).toBeUndefined();
      expect(log).toMatch(new RegExp(`^${want.uname}$`, 'm'));
      expect(log).toMatch(new RegExp(`^${want.base}$`, 'm'));
      expect(log).toMatch(new RegExp(`^env ${want.base}$`, 'm'));
      const base = index.images[want.arch];
      const config = result!.imageConfig;
      // The platform as --custom-platform writes it: no variant for linux/arm64, whatever the base's.
      expect([config.os, config.architecture, config.variant]).toEqual(['linux', want.arch, undefined]);
      const diffIds = config.rootfs!.diff_ids!;
      expect(diffIds.slice(0, 2)).toEqual(base.layers.map((layer) => layer.diffId));
      expect(diffIds).toHaveLength(3);
      expect(config.config?.Env).toEqual([
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        `BASE_PLATFORM=${want.base}`,
      ]);
      // The base's labels, with --label over the one both set.
      expect(config.config?.Labels).toEqual({
        'org.opencontainers.image.title': 'busybox-static',
        'org.opencontainers.image.revision': '0123456',
      });
      expect(config.history?.map((entry) => entry.created_by)).toEqual([
        'test layer 1',
        'test layer 2',
        'RUN uname -m',
        'RUN cat /etc/base-platform',
        'RUN echo "env $BASE_PLATFORM"',
        'COPY app.txt /app.txt',
      ]);
      // The base's very blobs, and the digest crane will push is the one kaniko's digest file says.
      const tarball = await readImageTarball(result!.tarball);
      expect(tarball.layers.slice(0, 2).map((layer) => [layer.digest, layer.size])).toEqual(
        base.layers.map((layer) => [layer.digest, layer.size]),
      );
      expect(log).not.toContain("kaniko's digest file says");
    },
  );

  it('writes the variant of a --custom-platform that has one', async () => {
    const { result, failure } = await build(`FROM ${index.reference}\nCOPY app.txt /app.txt\n`, {
      platform: 'linux/arm64/v8',
    });
    expect(failure).toBeUndefined();
    expect([result!.imageConfig.architecture, result!.imageConfig.variant]).toEqual(['arm64', 'v8']);
    expect(result!.identity.diffIds.slice(0, 2)).toEqual(
      index.images.arm64.layers.map((layer) => layer.diffId),
    );
  });

  it('builds for the runner’s platform when that is the one asked for', async () => {
    const { log, result } = await build(`FROM ${index.reference}\nRUN uname -m\n`);
    expect(log).toMatch(new RegExp(`^${BUILD.uname}$`, 'm'));
    expect(`${result!.imageConfig.os}/${result!.imageConfig.architecture}`).toBe(BUILD.platform);
  });

  it('gives RUN a predefined arg only after `ARG NAME` in its stage', async () => {
    const { log, failure } = await build(
      [
        `FROM ${index.reference} AS Release`,
        'RUN echo "before ARG: [$TARGETARCH]"',
        'ARG TARGETARCH',
        'ARG TARGETPLATFORM',
        'ARG TARGETVARIANT',
        'ARG BUILDPLATFORM',
        'ARG TARGETSTAGE',
        'ARG TARGETOS',
        'RUN echo "target $TARGETPLATFORM $TARGETARCH [$TARGETVARIANT] build $BUILDPLATFORM stage $TARGETSTAGE"',
        'RUN echo "os $TARGETOS"',
        '',
      ].join('\n'),
      { platform: 'linux/arm64/v8', buildArgs: ['TARGETOS=from-build-arg'] },
    );
    expect(failure).toBeUndefined();
    expect(log).toMatch(/^before ARG: \[\]$/m);
    // A --build-arg of the same name wins over the predefined value.
    expect(log).toMatch(/^os from-build-arg$/m);
    // TARGETPLATFORM as written, TARGETARCH and TARGETVARIANT as containerd normalises it.
    expect(log).toMatch(
      new RegExp(`^target linux/arm64/v8 arm64 \\[v8\\] build ${BUILD.platform} stage release$`, 'm'),
    );
  });

  it('builds each stage on its own root: a builder stage under QEMU, then a scratch image for the platform', async () => {
    const { log, result, failure } = await build(
      `FROM ${index.reference} AS builder\nRUN uname -m\nFROM scratch\nCOPY app.txt /app.txt\n`,
      { platform: 'linux/arm64' },
    );
    expect(failure).toBeUndefined();
    expect(log).toMatch(/^aarch64$/m);
    // Only the image's stage is in the image: no base layer, no builder history.
    expect(result!.identity.diffIds).toHaveLength(1);
    expect(result!.imageConfig.history?.map((entry) => entry.created_by)).toEqual(['COPY app.txt /app.txt']);
    expect(result!.imageConfig.architecture).toBe('arm64');
  });

  it('refuses a stage built FROM an earlier stage, which the stand-in does not build', async () => {
    const { failure } = await build(`FROM ${index.reference} AS base\nRUN true\nFROM base\n`);
    expect(failure?.message).toContain(
      'error building image: the kaniko stand-in builds no stage FROM an earlier stage (base)',
    );
  });

  it('ignores FROM --platform, as kaniko v1.28.2 does: the base is pulled for --custom-platform', async () => {
    const { log, result } = await build(
      `ARG BUILDPLATFORM\nFROM --platform=$BUILDPLATFORM ${index.reference}\nRUN uname -m\n`,
      { platform: 'linux/arm64' },
    );
    expect(log).toMatch(/^aarch64$/m);
    expect(result!.identity.diffIds.slice(0, 2)).toEqual(
      index.images.arm64.layers.map((layer) => layer.diffId),
    );
  });

  it('substitutes no predefined arg in a FROM line: `:$TARGETARCH` leaves a reference that does not parse', async () => {
    const { failure } = await build(`FROM ${registry.host}/busybox:$TARGETARCH\nRUN uname -m\n`, {
      platform: 'linux/arm64',
    });
    expect(failure?.message).toContain(
      `error building image: could not parse reference: ${registry.host}/busybox:`,
    );
  });

  it('fails with go-containerregistry’s message for a platform the index lacks, before any instruction', async () => {
    const { failure } = await build(`FROM ${index.reference}\nRUN uname -m\n`, { platform: 'linux/riscv64' });
    expect(failure?.message).toMatch(/^kaniko failed with exit code 1 before running any instruction/);
    expect(failure?.message).toContain(
      `error building image: unable to complete operation after 0 attempts, last error: no child with platform linux/riscv64 in index ${index.reference}`,
    );
  });

  it('cannot reach a registry port the sandbox was not given', async () => {
    const { failure } = await build(`FROM ${index.reference}\n`, {
      platform: 'linux/amd64',
      loopback: false,
    });
    expect(failure?.message).toContain(
      `last error: Get "https://${registry.host}/v2/": dial tcp ${registry.host}: connect: connection refused; Get "http://${registry.host}/v2/": dial tcp ${registry.host}: connect: connection refused`,
    );
  });
});
