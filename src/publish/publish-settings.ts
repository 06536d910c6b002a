import type { GitHubContext } from '../context.js';
import { isPullRequestEvent } from '../context.js';
import type { StageInputs } from '../input-parser.js';
import { imageProblem, listInput } from '../input-parser.js';
import { TAG_PATTERN, computeTags } from '../metadata.js';
import { isDigest, parseReference, registryOf } from '../reference.js';

export const PUBLISH_INPUTS = {
  image: '',
  tags: '',
  push: 'auto',
  'push-by-digest': 'false',
  'merge-digests': '',
} as const;
type PublishInput = keyof typeof PUBLISH_INPUTS;

/** Where the image goes, under which tags, and whether it goes at all. */
export interface PublishSettings {
  /** Repository without tag, e.g. `ghcr.io/octo-org/app`. */
  readonly image: string;
  /** Registry host of `image`, e.g. `ghcr.io` or `127.0.0.1:5000`. */
  readonly registry: string;
  /** Bare tags; the first names the build. */
  readonly tags: readonly string[];
  /** The version the tags express (the first tag given, or the one computed from the event). */
  readonly version: string;
  readonly push: boolean;
  /** A matrix job's push: the platform's manifest by digest, no tag (a `merge-digests` job tags). */
  readonly pushByDigest: boolean;
  /** `sha256:…` digests in `image` to list in one index and tag; nothing is built when given. */
  readonly mergeDigests: readonly string[];
}

/** Inputs of other stages that contradict this stage's modes. */
export interface OtherInputsGiven {
  readonly platforms: boolean;
  /** How many platforms `platforms` lists. */
  readonly platformCount: number;
  readonly rescan: boolean;
}

export function parsePublishSettings(
  inputs: StageInputs<PublishInput>,
  github: GitHubContext,
  others: OtherInputsGiven,
): PublishSettings {
  const image = inputs.value('image') || `ghcr.io/${github.repository}`.toLowerCase();
  const imageIssue =
    github.repository || inputs.given('image')
      ? imageProblem(image)
      : 'is empty and GITHUB_REPOSITORY is not set: give `image`';
  if (imageIssue) inputs.problem('image', image, imageIssue);
  const { tags, version } = parseTags(inputs, github);
  const pushValue = inputs.oneOf('push', ['auto', 'true', 'false'] as const);
  const push = pushValue === 'auto' ? !isPullRequestEvent(github.eventName) : pushValue === 'true';
  const pushByDigest = inputs.bool('push-by-digest');
  if (pushByDigest && inputs.given('tags'))
    inputs.problemText(
      'push-by-digest',
      'pushes no tag, but `tags` is given: the job that runs `merge-digests` sets the tags; remove `tags` here',
    );
  if (pushByDigest && others.platformCount > 1)
    inputs.problemText(
      'push-by-digest',
      `pushes one platform's manifest, for a matrix job, but \`platforms\` lists ${others.platformCount}: give each job one platform, or leave out push-by-digest to push them as one index`,
    );
  const mergeDigests = parseMergeDigests(inputs, image, others);
  if (pushByDigest && mergeDigests.length > 0)
    inputs.problemText(
      'merge-digests',
      'merges what `push-by-digest` jobs pushed: remove `push-by-digest` from the merge job',
    );
  return { image, registry: registryOf(image), tags, version, push, pushByDigest, mergeDigests };
}

/**
 * `sha256:…` or `<image>@sha256:…`, one per line (or comma): the image must be `image`, since the
 * index can only list manifests of its own repository.
 */
function parseMergeDigests(
  inputs: StageInputs<PublishInput>,
  image: string,
  others: OtherInputsGiven,
): string[] {
  const digests: string[] = [];
  for (const value of inputs.list('merge-digests', { commas: true })) {
    const { name, tag, digest } = value.startsWith('sha256:')
      ? { name: image, digest: value }
      : parseReference(value);
    if (digest === undefined || !isDigest(digest) || tag !== undefined)
      inputs.problem('merge-digests', value, 'is not sha256:<64 hex> or <image>@sha256:<64 hex>');
    else if (name !== image)
      inputs.problem(
        'merge-digests',
        value,
        `is not in \`image\` (${image}): an index lists manifests of its own repository`,
      );
    else if (digests.includes(digest)) inputs.problem('merge-digests', value, 'is listed twice');
    else digests.push(digest);
  }
  if (digests.length === 0) return digests;
  if (others.platforms)
    inputs.problemText(
      'merge-digests',
      'builds nothing, but `platforms` is given: each matrix job builds its platform; remove `platforms` from the merge job',
    );
  if (others.rescan)
    inputs.problemText('merge-digests', 'and `rescan: true` cannot be combined: run them as two steps');
  return digests;
}

function parseTags(
  inputs: StageInputs<PublishInput>,
  github: GitHubContext,
): { tags: readonly string[]; version: string } {
  const given = inputs.given('tags');
  if (!given) {
    try {
      return computeTags(github) as { tags: string[]; version: string };
    } catch (error) {
      inputs.problemText('tags', (error as Error).message);
      return { tags: [], version: '' };
    }
  }
  const tags = [...new Set(listInput(given, { commas: true }))];
  for (const tag of tags) {
    if (tag.includes(':') || tag.includes('/'))
      inputs.problem('tags', tag, 'must be a bare tag: the image name comes from `image`');
    else if (!TAG_PATTERN.test(tag))
      inputs.problem('tags', tag, 'is not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-], at most 128)');
  }
  return { tags, version: tags[0] ?? '' };
}
