import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDockerfile } from '../dockerfile.js';
import { digestReference, parseReference, registryOf } from '../reference.js';
import type { Registries } from '../registries.js';
import { infoUntrusted, reporter } from '../reporter.js';
import type { Crane } from '../tools/crane-command.js';
import { craneCommand } from '../tools/crane-command.js';
import { BASE_DIGEST_LABEL, baseLayersMismatch, finalBase, qualifiedBaseName } from './base-image.js';
import type { BuildSettings } from './build-settings.js';
import type { ImageIdentity } from './tarball.js';
import type { Platform } from '../platform.js';
import { formatPlatform } from '../platform.js';
import { builtStages, pinnedDockerfile } from './stage-platforms.js';

/** The image the final stage was built on: what the labels and the summary say. */
export interface BaseImageFacts {
  /** Fully qualified, the `org.opencontainers.image.base.name` label. */
  readonly name: string;
  /** The platform's manifest digest, the `org.opencontainers.image.base.digest` label. */
  readonly digest: string;
  /** The reference as written in the Dockerfile (ARGs substituted), as crane reads it. */
  readonly reference: string;
  readonly platform: string;
}

export interface BaseImageRegistryOptions {
  readonly cranePath: string;
  readonly registries: Registries;
  /** Private scratch space; an empty DOCKER_CONFIG is made in it. */
  readonly tempDir: string;
  /** The runner's `os/arch[/variant]`, where kaniko runs. */
  readonly buildPlatform: string;
}

/**
 * kaniko pulls base images with no credential (none enters the build), so crane asks the same
 * way: an empty DOCKER_CONFIG, never the runner's `~/.docker` nor the action's login.
 */
async function anonymousCrane(reference: string, options: BaseImageRegistryOptions): Promise<Crane> {
  const dockerConfigDir = join(options.tempDir, 'anonymous-docker-config');
  await mkdir(dockerConfigDir, { recursive: true, mode: 0o700 });
  return craneCommand({
    path: options.cranePath,
    registry: registryOf(reference),
    registries: options.registries,
    dockerConfigDir,
  });
}

/**
 * The final stage's base image and its digest for the build's platform, resolved before kaniko
 * runs (labels are set at build time); undefined for `FROM scratch` or a FROM this cannot read.
 */
export async function resolveBaseImage(
  build: Pick<BuildSettings, 'dockerfile' | 'target' | 'buildArgs'>,
  options: BaseImageRegistryOptions & { readonly platform: string },
): Promise<BaseImageFacts | undefined> {
  const base = finalBase(parseDockerfile(await readFile(build.dockerfile, 'utf8')), {
    target: build.target,
    buildArgs: build.buildArgs,
    platform: options.platform,
    buildPlatform: options.buildPlatform,
  });
  if (base.kind === 'scratch') return undefined;
  if (base.kind === 'unknown') {
    reporter().warning(`The image gets no base image labels: in ${build.dockerfile}, ${base.reason}.`);
    return undefined;
  }
  const crane = await anonymousCrane(base.reference, options);
  let digest: string;
  try {
    digest = await crane.digest(base.reference, base.platform);
  } catch (error) {
    throw new Error(
      `the base image ${base.reference} (${base.platform}) of ${build.dockerfile} could not be resolved: ` +
        `${(error as Error).message}\nkaniko pulls it the same way, anonymously: check the FROM line names a ` +
        'public image for this platform, and that its registry is reachable (or listed in `insecure-registries`).',
      { cause: error },
    );
  }
  const facts = {
    name: qualifiedBaseName(base.reference),
    digest,
    reference: base.reference,
    platform: base.platform,
  };
  // The name comes from the Dockerfile: relayed as text.
  infoUntrusted(`Base image: ${facts.name} (${facts.platform}) is ${facts.digest}.`);
  return facts;
}

/** The `rootfs.diff_ids` of an image config crane printed. */
function baseDiffIds(configText: string, reference: string): readonly string[] {
  let config: { rootfs?: { diff_ids?: unknown } };
  try {
    config = JSON.parse(configText) as typeof config;
  } catch (error) {
    throw new Error(`crane config ${reference} printed no JSON image config: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.some((diffId) => typeof diffId !== 'string'))
    throw new Error(
      `the image config of ${reference} has no rootfs.diff_ids list, so its layers cannot be compared`,
    );
  return diffIds as string[];
}

/**
 * Checks that kaniko built on the digest the labels name: that digest's layers must be the first
 * layers of the built image. A tag moved between the resolution and kaniko's pull fails here,
 * so no image says it is based on what it is not.
 */
export async function checkBaseImage(
  base: BaseImageFacts,
  built: ImageIdentity,
  options: BaseImageRegistryOptions,
): Promise<void> {
  const crane = await anonymousCrane(base.reference, options);
  const pinned = digestReference(parseReference(base.reference).name, base.digest);
  const mismatch = baseLayersMismatch(baseDiffIds(await crane.config(pinned), pinned), built.diffIds);
  if (mismatch)
    throw new Error(
      `the base image ${base.reference} moved during the build: ${base.digest}, resolved before it, is not ` +
        `what kaniko built on (${mismatch}), so the image's ${BASE_DIGEST_LABEL} label ` +
        `would lie. Re-run the build, or pin the FROM line by digest (FROM ${pinned}).`,
    );
}

/**
 * The Dockerfile kaniko must read to build `platform`, when a stage it builds runs on another
 * platform (`FROM --platform=$BUILDPLATFORM …`): kaniko v1.28.2 pulls every base for
 * `--custom-platform` and ignores `--platform`, so that stage's image is pinned to the manifest
 * of its own platform, which kaniko pulls as it is. Undefined when nothing needs pinning.
 */
export async function pinStagesElsewhere(
  build: Pick<BuildSettings, 'dockerfile' | 'target'>,
  request: { readonly buildArgs: readonly string[]; readonly platform: Platform },
  options: BaseImageRegistryOptions,
): Promise<string | undefined> {
  const text = await readFile(build.dockerfile, 'utf8');
  const stages = builtStages(text, { target: build.target, ...request });
  const pins: { stage: (typeof stages)[number]['stage']; pinned: string }[] = [];
  for (const { stage, platform, pin } of stages) {
    if (!pin) continue;
    const on = formatPlatform(platform);
    const crane = await anonymousCrane(pin.reference, options);
    const digest = await crane.digest(pin.reference, on).catch((error: unknown) => {
      throw new Error(
        `the image ${pin.reference} of the stage at line ${stage.from.line} of ${build.dockerfile} could not be resolved for ${on}, ` +
          `the platform its FROM names: ${(error as Error).message}`,
        { cause: error },
      );
    });
    const pinned = digestReference(parseReference(pin.reference).name, digest);
    infoUntrusted(
      `${formatPlatform(request.platform)}: the stage at line ${stage.from.line} runs on ${on}, so kaniko is given ${pinned} for ${pin.reference} ` +
        '(it pulls every base for the platform it builds, and ignores FROM --platform).',
    );
    pins.push({ stage, pinned });
  }
  return pins.length > 0 ? pinnedDockerfile(text, pins) : undefined;
}
