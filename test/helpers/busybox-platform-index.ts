import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageTarball, IndexPlatform } from './image-tarball.js';
import { pushImageIndex, writeImageTarball } from './image-tarball.js';
import { BUSYBOX } from './rootfs.js';

/**
 * Debian's busybox-static for arm64, as .ci/run unpacks it (`apt-get download
 * busybox-static:arm64`, then `dpkg-deb -x`): outside the clone, so that it is fetched once a machine.
 */
export const ARM64_BUSYBOX = '/var/cache/build-scan-push/busybox-static-arm64/bin/busybox';

/** The two platforms of the index, as Docker Hub's own busybox index names them. */
export const BUSYBOX_PLATFORMS = {
  amd64: { os: 'linux', architecture: 'amd64' },
  arm64: { os: 'linux', architecture: 'arm64', variant: 'v8' },
} as const satisfies Record<string, IndexPlatform>;
export type BusyboxArch = keyof typeof BUSYBOX_PLATFORMS;

/** The applets each base has, linked to /bin/busybox: what the platform tests' RUN lines call. */
const APPLETS = ['sh', 'uname', 'cat', 'echo', 'env', 'true', 'ls'];

export interface BusyboxPlatformIndex {
  /** `<registry>/<repository>:<tag>`: a FROM line's reference to the index. */
  readonly reference: string;
  /** The index's digest. */
  readonly digest: string;
  /** Each platform's image as pushed: its manifest digest and its layers' digests and DiffIDs. */
  readonly images: Readonly<Record<BusyboxArch, ImageTarball>>;
}

/**
 * Pushes a real two-platform base image to a registry (plain HTTP): an OCI index of a linux/amd64
 * and a linux/arm64/v8 Docker image, each of two layers: a root filesystem of that platform's
 * busybox-static (/bin/busybox and the applets in APPLETS), then /etc/base-platform naming the
 * platform. Each config has the platform, `BASE_PLATFORM` in its Env and two labels,
 * `org.opencontainers.image.title` and `org.opencontainers.image.revision` (`base`).
 */
export async function pushBusyboxPlatformIndex(options: {
  /** `127.0.0.1:PORT`, as `startRegistry` gives it. */
  readonly registry: string;
  readonly repository?: string;
  readonly tag?: string;
}): Promise<BusyboxPlatformIndex> {
  if (!existsSync(ARM64_BUSYBOX))
    throw new Error(
      `${ARM64_BUSYBOX} is missing: .ci/run downloads busybox-static:arm64 and unpacks it there`,
    );
  const repository = options.repository ?? 'busybox';
  const tag = options.tag ?? '1';
  const work = mkdtempSync(join(tmpdir(), 'busybox-index-'));
  try {
    const binaries: Record<BusyboxArch, string> = { amd64: BUSYBOX, arm64: ARM64_BUSYBOX };
    const entries = await Promise.all(
      (Object.keys(BUSYBOX_PLATFORMS) as BusyboxArch[]).map(async (arch) => {
        const platform = BUSYBOX_PLATFORMS[arch];
        const name = [
          platform.os,
          platform.architecture,
          ...('variant' in platform ? [platform.variant] : []),
        ].join('/');
        const tarball = join(work, `${arch}.tar`);
        const image = await writeImageTarball(tarball, {
          layers: [busyboxLayer(binaries[arch], join(work, arch)), { 'etc/base-platform': `${name}\n` }],
          config: {
            ...platform,
            env: [
              'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
              `BASE_PLATFORM=${name}`,
            ],
            labels: {
              'org.opencontainers.image.title': 'busybox-static',
              'org.opencontainers.image.revision': 'base',
            },
          },
        });
        return { arch, tarball, image, platform };
      }),
    );
    const digest = await pushImageIndex({ registry: options.registry, repository, tag, images: entries });
    return {
      reference: `${options.registry}/${repository}:${tag}`,
      digest,
      images: Object.fromEntries(entries.map(({ arch, image }) => [arch, image])) as Record<
        BusyboxArch,
        ImageTarball
      >,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Why arm64 binaries cannot run on this machine, or undefined when they can: binfmt_misc must have
 * an enabled qemu-aarch64 entry with flag F (the kernel opens QEMU at registration, so it runs in
 * the sandbox and in chroots). .ci/run installs qemu-user-static and registers it.
 */
export function arm64EmulationProblem(): string | undefined {
  const entry = '/proc/sys/fs/binfmt_misc/qemu-aarch64';
  if (!existsSync(entry)) return `${entry} is missing: .ci/run installs qemu-user-static and registers it`;
  const text = readFileSync(entry, 'utf8');
  if (!/^enabled$/m.test(text)) return `${entry} is not enabled`;
  if (!/^flags: \w*F/m.test(text))
    return `${entry} lacks flag F, without which QEMU is not found in a sandbox`;
  return undefined;
}

/** An uncompressed layer: /bin/busybox (0755) and its applet links, owned by root. */
function busyboxLayer(busybox: string, root: string): Buffer {
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync(busybox, join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const applet of APPLETS) symlinkSync('busybox', join(root, 'bin', applet));
  return execFileSync(
    'tar',
    [
      '--create',
      '--file=-',
      `--directory=${root}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '--sort=name',
      'bin',
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
}
