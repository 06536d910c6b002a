import { join } from 'node:path';
import type { ImageConfig, ImageIdentity } from '../build/tarball.js';
import { readImageTarball } from '../build/tarball.js';
import { digestReference } from '../reference.js';
import { reporter } from '../reporter.js';
import type { Crane } from '../tools/crane-command.js';

/** One manifest to pull: an image's own, or one platform's of an index. */
export interface PlatformManifest {
  /** `os/arch[/variant]` from the index; absent for a plain image (its config says). */
  readonly platform?: string;
  readonly digest: string;
}

/** What a reference names in the registry now: its digest and the image manifests under it. */
export interface RescanTarget {
  /** The references (`image:tag` or `image@digest`) that resolved to `digest`. */
  readonly references: readonly string[];
  readonly digest: string;
  readonly manifests: readonly PlatformManifest[];
}

/** One pulled platform image: the tarball the scan reads and what it is. */
export interface PulledImage {
  readonly platform: string;
  /** Whether it is one platform of an index: its SARIF then goes under the platform's category. */
  readonly fromIndex: boolean;
  /** `image@<platform manifest digest>`. */
  readonly reference: string;
  readonly digest: string;
  readonly tarball: string;
  readonly config: ImageConfig;
  readonly identity: ImageIdentity;
}

interface ManifestJson {
  readonly mediaType?: string;
  readonly config?: { readonly digest?: string };
  readonly manifests?: readonly {
    readonly digest: string;
    readonly platform?: { readonly os?: string; readonly architecture?: string; readonly variant?: string };
  }[];
}

/**
 * Resolves every reference to the digest the registry serves now (`crane digest`), the check that
 * the image exists, made before the scanner is downloaded; references to one digest are rescanned
 * once. Each index is read for its platforms' manifests.
 */
export async function resolveTargets(
  crane: Crane,
  image: string,
  references: readonly string[],
): Promise<RescanTarget[]> {
  const byDigest = new Map<string, string[]>();
  for (const reference of references) {
    const digest = await crane.digest(reference);
    reporter().info(`${reference} is ${digest}`);
    byDigest.set(digest, [...(byDigest.get(digest) ?? []), reference]);
  }
  const targets: RescanTarget[] = [];
  for (const [digest, named] of byDigest) {
    const manifest = await readManifest(crane, digestReference(image, digest));
    targets.push({ references: named, digest, manifests: platformManifests(manifest, digest) });
  }
  return targets;
}

async function readManifest(crane: Crane, reference: string): Promise<ManifestJson> {
  const { stdout } = await crane.run(['manifest', reference]);
  try {
    return JSON.parse(stdout) as ManifestJson;
  } catch (error) {
    throw new Error(`crane manifest ${reference} printed no JSON manifest: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * An index's image manifests, one per platform; entries for platform `unknown/unknown` are the
 * attestations BuildKit attaches, not images. A plain image is its own single manifest.
 */
export function platformManifests(manifest: ManifestJson, digest: string): PlatformManifest[] {
  if (!manifest.manifests) return [{ digest }];
  const images = manifest.manifests.filter((entry) => entry.platform?.os && entry.platform.os !== 'unknown');
  if (images.length === 0) throw new Error(`the index ${digest} lists no platform image to scan`);
  return images.map((entry) => ({ platform: platformName(entry.platform ?? {}), digest: entry.digest }));
}

function platformName(platform: { os?: string; architecture?: string; variant?: string }): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/**
 * `crane pull` of one platform's manifest, by digest, into a docker-archive tarball in `folder`;
 * the tarball's config must be the one that manifest names, or the scan would not be about it.
 */
export async function pullPlatform(
  crane: Crane,
  image: string,
  manifest: PlatformManifest,
  folder: string,
): Promise<PulledImage> {
  const reference = digestReference(image, manifest.digest);
  const tarball = join(folder, `image-${manifest.digest.slice('sha256:'.length, 'sha256:'.length + 12)}.tar`);
  const [expected] = await Promise.all([
    readManifest(crane, reference),
    crane.run(['pull', '--format', 'tarball', reference, tarball]),
  ]);
  const pulled = await readImageTarball(tarball);
  if (pulled.configDescriptor.digest !== expected.config?.digest)
    throw new Error(
      `crane pull ${reference} wrote config ${pulled.configDescriptor.digest}, but the manifest names ${expected.config?.digest ?? 'none'}: the tarball is not this image, so it is not scanned.`,
    );
  const { config } = pulled;
  const variant = typeof config.variant === 'string' ? config.variant : undefined;
  const platform =
    manifest.platform ?? platformName({ os: config.os, architecture: config.architecture, variant });
  reporter().info(`Pulled ${reference} (${platform}) into ${tarball}`);
  return {
    platform,
    fromIndex: manifest.platform !== undefined,
    reference,
    digest: manifest.digest,
    tarball,
    config,
    identity: { configDigest: pulled.configDescriptor.digest, diffIds: config.rootfs?.diff_ids ?? [] },
  };
}
