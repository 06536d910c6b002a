import type { ImageConfig } from '../build/tarball.js';
import type { PublishOutcome } from '../run-record.js';
import type { PushedPlatformManifest } from './image-index.js';
import { planImageIndex } from './image-index.js';
import { DOCKER_CONFIG_JSON, DOCKER_MANIFEST_SCHEMA2 } from '../build/tarball.js';
import type { PublishOptions, PublishResult } from './publish-image.js';
import { PublishError, publishImage } from './publish-image.js';

/** One platform's scanned image, as the push takes it. */
export interface PlatformImage {
  /** `os/arch[/variant]`. */
  readonly platform: string;
  readonly tarball: string;
  /** The manifest digest crane pushes the tarball under: what was scanned. */
  readonly digest: string;
  readonly manifestSize: number;
  /** Its config: the platform an index entry states is read from it, as crane does. */
  readonly config: ImageConfig;
}

export interface PlatformsPublishOptions extends Omit<PublishOptions, 'source' | 'expectedDigest'> {
  /** Every platform's image, in the order the index lists them. */
  readonly images: readonly PlatformImage[];
  /** An index of the images, tagged; else the one image itself (tagged, or by digest only). */
  readonly asIndex: boolean;
}

/**
 * One image: pushed by digest, then tagged (no tag for a matrix job's push by digest). Several:
 * every platform's manifest by digest first, all of them or the index is not written; then the
 * index listing them, by the digest the action computed for it; only then the tags, on the index.
 * Uploads do not wait for `tagAfter`; tags do.
 */
export async function publishPlatforms(options: PlatformsPublishOptions): Promise<PublishResult> {
  const { images, asIndex, tagAfter, ...common } = options;
  const waitFor = tagAfter ? { tagAfter } : {};
  if (!asIndex) {
    const [image] = images;
    if (!image || images.length > 1)
      throw new Error(`One image is pushed without an index, not ${images.length}.`);
    return publishImage({
      ...common,
      ...waitFor,
      source: { tarball: image.tarball },
      expectedDigest: image.digest,
    });
  }
  const pushes = await Promise.allSettled(
    images.map((image) =>
      publishImage({ ...common, tags: [], source: { tarball: image.tarball }, expectedDigest: image.digest }),
    ),
  );
  const failed = pushes.flatMap((push, index) =>
    push.status === 'rejected' ? [`${images[index]!.platform}: ${(push.reason as Error).message}`] : [],
  );
  if (failed.length > 0)
    throw new PublishError(
      `${failed.join('\n')}\nThe index was not pushed and no tag was set: the platforms pushed are untagged manifests, which nothing points at.`,
      [],
      common.tags.map((tag) => `${common.image}:${tag}`),
    );
  return publishIndex(
    { ...common, ...waitFor },
    images.map((image) => ({
      platform: image.platform,
      // What `crane push` of a docker-archive tarball uploads (tarball.ts computed its bytes).
      mediaType: DOCKER_MANIFEST_SCHEMA2,
      size: image.manifestSize,
      digest: image.digest,
      configMediaType: DOCKER_CONFIG_JSON,
      config: image.config,
    })),
  );
}

/** The index of manifests already in the repository, pushed by its computed digest, then tagged. */
export function publishIndex(
  options: Omit<PublishOptions, 'source' | 'expectedDigest'>,
  manifests: readonly (PushedPlatformManifest & { readonly platform: string })[],
): Promise<PublishResult> {
  const plan = planImageIndex(options.image, manifests);
  return publishImage({
    ...options,
    source: {
      craneArgs: plan.craneArgs,
      description: `the index of ${manifests.map((manifest) => manifest.platform).join(', ')}`,
    },
    expectedDigest: plan.digest,
  });
}

/** A push's outcome for the run record: what exists, or why it stopped and what exists anyway. */
export async function outcomeOf(publishing: Promise<PublishResult>): Promise<PublishOutcome> {
  try {
    return { status: 'pushed', result: await publishing };
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    return {
      status: 'failed',
      error: failure,
      pushed: failure instanceof PublishError ? failure.pushed : [],
    };
  }
}
