import type { StageInputs } from '../input-parser.js';
import { referenceProblem } from '../input-parser.js';
import { parseReference } from '../reference.js';
import {
  CRANE_DEFAULT,
  KANIKO_IMAGE_DEFAULT,
  TRIVY_DEFAULT,
  normalizeVersion,
  refusedTrivyVersion,
} from './releases.js';

export const TOOL_INPUTS = {
  'kaniko-image': KANIKO_IMAGE_DEFAULT,
  'trivy-version': TRIVY_DEFAULT.version,
  'crane-version': CRANE_DEFAULT.version,
  'tool-mirror': 'https://github.com',
} as const;
type ToolInput = keyof typeof TOOL_INPUTS;

/** Which tools to install and from where. */
export interface ToolSettings {
  readonly kanikoImage: string;
  readonly trivyVersion: string;
  readonly craneVersion: string;
  /** Base URL that keeps GitHub's release layout, without a trailing slash. */
  readonly toolMirror: string;
}

/**
 * The first crane whose `index append` writes the index the action computes (image-index.ts):
 * since v0.21.6 each entry carries its config's media type as `artifactType`.
 */
const INDEX_CRANE = [0, 21, 6] as const;

/**
 * `pushesIndex`: the run pushes an image index (several platforms, or a merge), whose digest the
 * action computes as the crane it runs will write it.
 */
export function parseToolSettings(inputs: StageInputs<ToolInput>, pushesIndex = false): ToolSettings {
  const kanikoImage = inputs.value('kaniko-image');
  const kanikoIssue = referenceProblem(kanikoImage);
  const { tag, digest } = parseReference(kanikoImage);
  if (kanikoIssue) inputs.problem('kaniko-image', kanikoImage, kanikoIssue);
  else if (tag === undefined && digest === undefined)
    inputs.problem('kaniko-image', kanikoImage, 'needs a tag or a digest (a digest is safest)');

  const trivyVersion = toolVersion(inputs, 'trivy-version');
  const refusal = trivyVersion ? refusedTrivyVersion(trivyVersion) : undefined;
  if (refusal) inputs.problem('trivy-version', inputs.value('trivy-version'), `is refused. ${refusal}`);
  const craneVersion = toolVersion(inputs, 'crane-version');
  if (pushesIndex && craneVersion && olderThan(craneVersion, INDEX_CRANE))
    inputs.problem(
      'crane-version',
      inputs.value('crane-version'),
      `is older than ${INDEX_CRANE.join('.')}, whose \`index append\` writes the image index as the action computes it (each entry's artifactType): use ${INDEX_CRANE.join('.')} or later to push several platforms or merge digests`,
    );

  const toolMirror = inputs.value('tool-mirror').replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/]+(\/\S*)?$/.test(toolMirror))
    inputs.problem(
      'tool-mirror',
      inputs.value('tool-mirror'),
      'is not an http(s) URL, e.g. https://github.example.com',
    );
  return { kanikoImage, trivyVersion, craneVersion, toolMirror };
}

function toolVersion(inputs: StageInputs<ToolInput>, name: 'trivy-version' | 'crane-version'): string {
  const value = inputs.value(name);
  const normalized = normalizeVersion(value);
  if (!normalized)
    inputs.problem(
      name,
      value,
      'is not a version: use x.y.z or a semver pre-release such as 0.75.0-rc.1 (a leading v is allowed; build metadata such as +build is not, because the tool cache would file it under x.y.z)',
    );
  return normalized ?? '';
}

/** Whether x.y.z[-pre] comes before `than` (a pre-release of it comes before it too). */
function olderThan(version: string, than: readonly number[]): boolean {
  const [core = '', pre] = version.split('-', 2);
  const parts = core.split('.').map(Number);
  for (const [index, wanted] of than.entries()) {
    const part = parts[index] ?? 0;
    if (part !== wanted) return part < wanted;
  }
  return pre !== undefined;
}
