import type { ImageConfig } from '../build/tarball.js';
import { IMAGE_MANIFEST_TYPES } from '../build/tarball.js';
import type { PushedPlatformManifest } from './image-index.js';
import type { Config } from '../inputs.js';
import { Recorder, dockerConfigDir, prepareFolders, registryCrane } from '../main.js';
import { REVISION_LABEL } from '../metadata.js';
import { platformOfConfig } from '../platform.js';
import { digestOf, digestReference } from '../reference.js';
import { infoUntrusted } from '../reporter.js';
import type { PlatformRun, PublishOutcome, RunRecord } from '../run-record.js';
import type { Crane } from '../tools/crane-command.js';
import { installCraneTool } from '../tools/install-tools.js';
import { outcomeOf, publishIndex } from './publish-platforms.js';

/** A platform manifest a matrix job pushed by digest, as read back for the merge. */
export interface MergedManifest extends PushedPlatformManifest {
  /** `os/arch[/variant]`, from its config. */
  readonly platform: string;
  readonly config: ImageConfig;
  /** Its `org.opencontainers.image.revision` label, '' when it has none. */
  readonly revision: string;
}

/**
 * The last job of a matrix: nothing is built or scanned (each job did that for its platform and
 * pushed by digest only after its policy passed). Every digest must be an image manifest in
 * `image`, of a platform no other digest has, built from this commit (its revision label); then
 * the index listing them is pushed by digest and tagged.
 */
export async function mergePushedDigests(config: Config): Promise<RunRecord> {
  const run = new Recorder(config);
  let platforms: PlatformRun[] = [];
  run.enter('install');
  try {
    await prepareFolders(config);
    const tool = await installCraneTool({
      ...config.tools,
      registries: config.registries,
      arch: process.arch,
    });
    const crane = await registryCrane(
      config,
      tool.path,
      `Check that each \`merge-digests\` entry was pushed to ${config.publish.image} by a \`push-by-digest\` job of this run, and that the registry credential may read it.`,
    );
    run.enter('pull');
    const manifests = await readPushedManifests(crane, config);
    platforms = manifests.map((merged) => ({ platform: merged.platform, merged }));
    run.enter('publish');
    run.publish = await publishMerged(config, tool.path, manifests);
  } catch (error) {
    run.fail(error);
  }
  return { ...run.record(), platforms };
}

/** Every digest read and checked; all problems are reported together, and then nothing is pushed. */
async function readPushedManifests(crane: Crane, config: Config): Promise<MergedManifest[]> {
  const { image, mergeDigests } = config.publish;
  const read = await Promise.allSettled(mergeDigests.map((digest) => readPushed(crane, image, digest)));
  const problems: string[] = [];
  const manifests: MergedManifest[] = [];
  read.forEach((result, index) => {
    const reference = digestReference(image, mergeDigests[index]!);
    if (result.status === 'rejected') problems.push(`${reference}: ${(result.reason as Error).message}`);
    else {
      const problem = mergeProblem(result.value, manifests, config.run.github.sha);
      if (problem) problems.push(`${reference}: ${problem}`);
      manifests.push(result.value);
    }
  });
  if (problems.length > 0)
    throw new Error(
      `${problems.length === 1 ? 'A digest' : `${problems.length} digests`} of \`merge-digests\` cannot be merged, so no index or tag was pushed:\n` +
        problems.map((problem) => `  - ${problem}`).join('\n'),
    );
  for (const merged of manifests)
    infoUntrusted(`${merged.platform}: ${digestReference(image, merged.digest)}`);
  return manifests;
}

/** What is wrong with merging this manifest next to those before it, if anything. */
export function mergeProblem(
  merged: MergedManifest,
  before: readonly MergedManifest[],
  sha: string,
): string | undefined {
  if (!IMAGE_MANIFEST_TYPES.has(merged.mediaType))
    return `is a ${merged.mediaType}, not one platform's image manifest: give the digest each \`push-by-digest\` job output`;
  const twin = before.find((other) => other.platform === merged.platform);
  if (twin)
    return `is a second image for ${merged.platform} (${twin.digest} is one too): an index lists each platform once`;
  if (sha && merged.revision !== sha)
    return `was built from commit ${merged.revision || '(no revision label)'}, not ${sha}, the commit of this run: merge only what this run's jobs pushed`;
  return undefined;
}

async function readPushed(crane: Crane, image: string, digest: string): Promise<MergedManifest> {
  const reference = digestReference(image, digest);
  const { stdout } = await crane.run(['manifest', reference]);
  // The index lists these bytes by this digest: the registry must have served exactly them.
  const served = digestOf(stdout);
  if (served !== digest) throw new Error(`the registry served a manifest whose digest is ${served}`);
  const manifest = parseJson<PushedManifestJson>(stdout, `crane manifest ${reference}`);
  const mediaType = manifest.mediaType ?? '';
  const config = IMAGE_MANIFEST_TYPES.has(mediaType)
    ? parseJson<ImageConfig>(await crane.config(reference), `crane config ${reference}`)
    : {};
  return {
    digest,
    mediaType,
    size: Buffer.byteLength(stdout),
    configMediaType: manifest.config?.mediaType ?? '',
    ...(manifest.artifactType ? { artifactType: manifest.artifactType } : {}),
    ...(manifest.annotations ? { annotations: manifest.annotations } : {}),
    config,
    platform: platformOfConfig(config),
    revision: config.config?.Labels?.[REVISION_LABEL] ?? '',
  };
}

/** The fields of a manifest an index entry takes from it (see image-index.ts). */
interface PushedManifestJson {
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config?: { readonly mediaType?: string };
  readonly annotations?: Readonly<Record<string, string>>;
}

function parseJson<T>(text: string, what: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(`${what} printed no JSON: ${(error as Error).message}`, { cause: error });
  }
}

function publishMerged(
  config: Config,
  cranePath: string,
  manifests: readonly MergedManifest[],
): Promise<PublishOutcome> {
  return outcomeOf(
    publishIndex(
      {
        crane: cranePath,
        image: config.publish.image,
        tags: config.publish.tags,
        registries: config.registries,
        timeLimit: config.timeouts.push,
        ...(config.registries.credentialFor(config.publish.registry)
          ? { dockerConfigDir: dockerConfigDir(config) }
          : {}),
      },
      manifests,
    ),
  );
}
