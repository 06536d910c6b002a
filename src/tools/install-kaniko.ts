import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isDigest, parseReference } from '../reference.js';
import type { Registries } from '../registries.js';
import type { TimeLimit } from '../timeout-settings.js';
import { craneCommand } from './crane-command.js';
import { toolCacheRoot } from './install-release-tool.js';
import type { Arch } from './releases.js';

export interface KanikoInstallOptions {
  /** `registry/repository[:tag][@sha256:…]`; a digest makes a warm install need no network. */
  readonly image: string;
  readonly arch: Arch;
  /** Resolves the crane path; called only when the registry has to be asked. */
  readonly crane: () => Promise<string>;
  /**
   * Decides `crane --insecure` for the image's registry. The image is pulled without the action's
   * credentials (crane sees only the runner's `$HOME/.docker`).
   */
  readonly registries: Registries;
  /** The stage's limit on each tool process (see exec.run). */
  readonly timeLimit?: TimeLimit;
}

export interface InstalledKaniko {
  /** The executor's root filesystem (`<rootfs>/kaniko/executor`); read-only by contract. */
  readonly rootfs: string;
  readonly image: string;
  /** Digest of the multi-platform index, when the image is one. */
  readonly indexDigest?: string;
  /** Digest of the manifest exported for this runner's platform. */
  readonly platformDigest: string;
  /** `tool cache` or the registry it was exported from. */
  readonly source: string;
}

/** Stored beside (never inside) the cached root, so a cache hit can report both digests. */
interface CachedDigests {
  readonly indexDigest?: string;
  readonly platformDigest: string;
}

const DIGESTS_FILE = 'digests.json';

export function ociPlatform(arch: Arch): string {
  return `linux/${arch === 'x64' ? 'amd64' : 'arm64'}`;
}

/**
 * The kaniko executor's root filesystem from its image, exported for the runner's platform with
 * crane into the tool cache. The cache is keyed by the digest the reference resolves to plus the
 * architecture, so a reference pinned by digest is found without any registry request.
 */
export async function installKaniko(options: KanikoInstallOptions): Promise<InstalledKaniko> {
  const reference = parseReference(options.image);
  const platform = ociPlatform(options.arch);
  const cached = reference.digest ? await readCache(reference.digest, options) : undefined;
  if (cached) return cached;

  const crane = craneCommand({
    path: await options.crane(),
    registry: reference.registry,
    registries: options.registries,
    failureHint: 'Check `kaniko-image` and `insecure-registries` for a plain-HTTP registry.',
    ...(options.timeLimit && { timeLimit: options.timeLimit }),
  });
  const topDigest = reference.digest ?? (await crane.digest(options.image));
  const pinned = `${reference.name}@${topDigest}`;
  if (!reference.digest) {
    const cachedByTag = await readCache(topDigest, options);
    if (cachedByTag) return cachedByTag;
  }
  const platformDigest = await crane.digest(pinned, platform);
  const digests: CachedDigests = {
    ...(platformDigest !== topDigest && { indexDigest: topDigest }),
    platformDigest,
  };

  const folder = cacheFolder(topDigest, options.arch);
  await mkdir(dirname(folder), { recursive: true });
  const partial = await mkdtemp(`${folder}.partial-`);
  try {
    await mkdir(join(partial, 'rootfs'));
    await crane.exportTo(pinned, platform, join(partial, 'rootfs'));
    if (!existsSync(join(partial, 'rootfs', 'kaniko', 'executor')))
      throw new Error(
        `the image ${options.image} (${platform} ${platformDigest}) has no /kaniko/executor: \`kaniko-image\` must name a kaniko executor image such as ghcr.io/osscontainertools/kaniko.`,
      );
    await writeFile(join(partial, DIGESTS_FILE), JSON.stringify(digests));
    // A job sharing this tool cache may have completed the same digest meanwhile and be building
    // on it: keep that copy (same digest, same content) and drop ours.
    if (!existsSync(completeMarker(folder))) {
      await rm(folder, { recursive: true, force: true });
      await rename(partial, folder);
      await writeFile(completeMarker(folder), '');
    }
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return { rootfs: join(folder, 'rootfs'), image: options.image, ...digests, source: reference.registry };
}

/** Same layout as @actions/tool-cache (`<cache>/<tool>/<version>/<arch>` plus `.complete`). */
function cacheFolder(digest: string, arch: Arch): string {
  return join(toolCacheRoot(), 'kaniko', digest.replace(':', '-'), arch);
}

function completeMarker(folder: string): string {
  return `${folder}.complete`;
}

async function readCache(
  digest: string,
  options: KanikoInstallOptions,
): Promise<InstalledKaniko | undefined> {
  if (!isDigest(digest)) return undefined;
  const folder = cacheFolder(digest, options.arch);
  if (!existsSync(completeMarker(folder)) || !existsSync(join(folder, 'rootfs', 'kaniko', 'executor')))
    return undefined;
  const digests = JSON.parse(await readFile(join(folder, DIGESTS_FILE), 'utf8')) as CachedDigests;
  return { rootfs: join(folder, 'rootfs'), image: options.image, ...digests, source: 'tool cache' };
}
