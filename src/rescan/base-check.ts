import type { ImageConfig } from '../build/tarball.js';
import { isDigest } from '../reference.js';

/** The OCI annotation keys the build writes as labels: which base the image was built on. */
export const BASE_NAME_LABEL = 'org.opencontainers.image.base.name';
export const BASE_DIGEST_LABEL = 'org.opencontainers.image.base.digest';

const IMAGE_REFERENCE = /^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/;

/** Whether a rebuild would start from a newer base than the image was built on. */
export type BaseUpdated = 'true' | 'false' | 'unknown';

export interface BaseCheck {
  readonly updated: BaseUpdated;
  /** The base image's reference, from the label. */
  readonly name?: string;
  /** The digest the image was built on, from the label. */
  readonly builtOn?: string;
  /** What the base reference resolves to now (the index's digest when it is one). */
  readonly current?: string;
  /** Why `updated` is unknown. */
  readonly reason?: string;
}

/** The registry's digest for a reference now, for one platform or the reference as is. */
export type CurrentDigest = (reference: string, platform?: string) => Promise<string>;

/**
 * Compares the base digest the image was built on (its labels) with what the base name resolves
 * to now. The label may hold the index digest or the platform's manifest digest, so both are
 * asked: equal to either, the base has not moved.
 */
export async function checkBase(
  config: ImageConfig,
  platform: string,
  currentDigest: CurrentDigest,
): Promise<BaseCheck> {
  const labels = config.config?.Labels ?? {};
  const name = labels[BASE_NAME_LABEL];
  const builtOn = labels[BASE_DIGEST_LABEL];
  if (!name || !builtOn)
    return {
      updated: 'unknown',
      reason: `the image has no ${BASE_NAME_LABEL} and ${BASE_DIGEST_LABEL} labels (built before they were written, or by another builder)`,
    };
  // The labels come from the image: a "name" crane would read as a flag is never passed to it.
  if (!IMAGE_REFERENCE.test(name))
    return {
      updated: 'unknown',
      name,
      builtOn,
      reason: `the ${BASE_NAME_LABEL} label is not an image reference`,
    };
  if (!isDigest(builtOn))
    return {
      updated: 'unknown',
      name,
      builtOn,
      reason: `the ${BASE_DIGEST_LABEL} label is not a sha256 digest`,
    };
  try {
    const [current, forPlatform] = await Promise.all([currentDigest(name), currentDigest(name, platform)]);
    const updated = builtOn === current || builtOn === forPlatform ? 'false' : 'true';
    return { updated, name, builtOn, current };
  } catch (error) {
    return {
      updated: 'unknown',
      name,
      builtOn,
      reason: `${name} cannot be resolved: ${(error as Error).message}`,
    };
  }
}

/** One answer for the run: true if any base moved, false if none did, unknown otherwise. */
export function overallBaseUpdated(checks: readonly BaseCheck[]): BaseUpdated {
  if (checks.some((check) => check.updated === 'true')) return 'true';
  if (checks.length > 0 && checks.every((check) => check.updated === 'false')) return 'false';
  return 'unknown';
}

/** One sentence on a platform's base image, for the log and the summary. */
export function describeBase(base: BaseCheck): string {
  const name = base.name ?? 'The base image';
  if (base.updated === 'unknown') return `${name}: unknown whether it moved: ${base.reason ?? ''}`;
  if (base.updated === 'false') return `${name} is still ${base.builtOn}, the digest the image was built on.`;
  return `${name} moved from ${base.builtOn} (built on) to ${base.current}: a rebuild would start from the newer base and pick up its fixes.`;
}
