import type { GitHubContext } from './context.js';
import { isPullRequestEvent } from './context.js';

/** The OCI label naming the commit an image was built from; a merge checks it. */
export const REVISION_LABEL = 'org.opencontainers.image.revision';

/** A Docker tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. */
export const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

const SEMVER_TAG = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

export interface Metadata {
  /** Tags in priority order: the first is the one kaniko builds and crane pushes. */
  readonly tags: readonly string[];
  /** The version label: the most specific computed tag. */
  readonly version: string;
}

/**
 * Tags from the run's context, in the habits of docker/metadata-action. The most specific tag
 * comes first (it names the image in kaniko's `--destination` and is the one crane uploads);
 * `sha-<7>` is always there so every build is addressable by commit.
 */
export function computeTags(context: Pick<GitHubContext, 'eventName' | 'ref' | 'sha' | 'payload'>): Metadata {
  const shaTag = context.sha ? `sha-${context.sha.slice(0, 7).toLowerCase()}` : '';
  const specific = specificTags(context);
  const tags = [...specific, shaTag].filter((tag, index, all) => tag !== '' && all.indexOf(tag) === index);
  if (tags.length === 0) {
    throw new Error(
      'no tag can be computed: GITHUB_SHA is empty and the ref names no branch or tag. Set the `tags` input.',
    );
  }
  return { tags, version: tags[0]! };
}

function specificTags(context: Pick<GitHubContext, 'eventName' | 'ref' | 'payload'>): string[] {
  if (isPullRequestEvent(context.eventName)) {
    const number = context.payload.pull_request?.number ?? /^refs\/pull\/(\d+)\//.exec(context.ref)?.[1];
    return number === undefined ? [] : [`pr-${number}`];
  }
  if (context.eventName === 'schedule') return ['nightly'];
  if (context.ref.startsWith('refs/tags/')) return gitTagTags(context.ref.slice('refs/tags/'.length));
  if (context.ref.startsWith('refs/heads/')) {
    const branch = sanitizeTag(context.ref.slice('refs/heads/'.length));
    return branch ? [branch] : [];
  }
  return [];
}

/** `v1.2.3` → 1.2.3, 1.2, 1, latest; a pre-release only itself; `v0.x.y` gets no bare `0`. */
function gitTagTags(gitTag: string): string[] {
  const semver = SEMVER_TAG.exec(gitTag);
  if (!semver) {
    const tag = sanitizeTag(gitTag);
    return tag ? [tag] : [];
  }
  const [, major, minor, patch, prerelease] = semver;
  const version = `${major}.${minor}.${patch}`;
  if (prerelease) return [sanitizeTag(`${version}-${prerelease}`)];
  // A bare `0` would float across releases that semver allows to break each other.
  return major === '0'
    ? [version, `${major}.${minor}`, 'latest']
    : [version, `${major}.${minor}`, `${major}`, 'latest'];
}

/** Makes a branch or git tag name a valid Docker tag: `feature/Login` → `feature-Login`. */
export function sanitizeTag(name: string): string {
  return name
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 128);
}

export interface LabelInputs {
  readonly context: Pick<GitHubContext, 'sha' | 'serverUrl' | 'repository' | 'repoName' | 'payload'>;
  readonly version: string;
  /** ISO 8601 time the image counts as created: the build's time, or the commit's when reproducible. */
  readonly created: string;
  /** The user's `labels`, which override the computed ones. */
  readonly userLabels: Readonly<Record<string, string>>;
}

/** OCI labels that let GHCR link the package to its repository; user labels win. */
export function computeLabels({
  context,
  version,
  created,
  userLabels,
}: LabelInputs): Record<string, string> {
  const repository = context.payload.repository;
  const url =
    repository?.html_url ?? (context.repository ? `${context.serverUrl}/${context.repository}` : '');
  const license = repository?.license?.spdx_id;
  const computed: Record<string, string | undefined> = {
    'org.opencontainers.image.title': repository?.name ?? context.repoName,
    'org.opencontainers.image.description': repository?.description ?? undefined,
    'org.opencontainers.image.url': url,
    'org.opencontainers.image.source': url,
    'org.opencontainers.image.version': version,
    'org.opencontainers.image.created': created,
    [REVISION_LABEL]: context.sha,
    'org.opencontainers.image.licenses': license && license !== 'NOASSERTION' ? license : undefined,
  };
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(computed)) if (value) labels[key] = value;
  return { ...labels, ...userLabels };
}
