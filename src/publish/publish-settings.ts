import type { GitHubContext } from '../context.js';
import { isPullRequestEvent } from '../context.js';
import type { StageInputs } from '../input-parser.js';
import { imageProblem, listInput } from '../input-parser.js';
import { TAG_PATTERN, computeTags } from '../metadata.js';
import { registryOf } from '../reference.js';

export const PUBLISH_INPUTS = {
  image: '',
  tags: '',
  push: 'auto',
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
}

export function parsePublishSettings(
  inputs: StageInputs<PublishInput>,
  github: GitHubContext,
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
  return { image, registry: registryOf(image), tags, version, push };
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
