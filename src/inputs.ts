import type { BuildSettings } from './build/build-settings.js';
import { BUILD_INPUTS, parseBuildSettings } from './build/build-settings.js';
import type { GitHubContext } from './context.js';
import type { PolicySettings } from './gate/policy-settings.js';
import { POLICY_INPUTS, parsePolicySettings } from './gate/policy-settings.js';
import { InputError, StageInputs, listInput } from './input-parser.js';
import type { PublishSettings } from './publish/publish-settings.js';
import { PUBLISH_INPUTS, parsePublishSettings } from './publish/publish-settings.js';
import type { Registries } from './registries.js';
import { REGISTRY_INPUTS, parseRegistrySettings } from './registry-settings.js';
import type { ReportSettings } from './report/report-settings.js';
import type { RescanSettings } from './rescan/rescan-settings.js';
import { RESCAN_INPUTS, parseRescanSettings } from './rescan/rescan-settings.js';
import { REPORT_INPUTS, parseReportSettings } from './report/report-settings.js';
import type { ScanSettings } from './scan/scan-settings.js';
import { SCAN_INPUTS, parseScanSettings } from './scan/scan-settings.js';
import type { TimeoutSettings } from './timeout-settings.js';
import { TIMEOUT_INPUTS, parseTimeoutSettings } from './timeout-settings.js';
import type { ToolSettings } from './tools/tool-settings.js';
import { TOOL_INPUTS, parseToolSettings } from './tools/tool-settings.js';

export { InputError } from './input-parser.js';

/**
 * Every input with the default the action falls back to when it is empty, gathered from the
 * stages that own them. action.yml declares the same defaults (a test keeps them equal); those
 * written there as `${{ github.* }}` expressions are read from the context, so local runs behave
 * the same.
 */
export const INPUT_DEFAULTS = {
  ...BUILD_INPUTS,
  ...PUBLISH_INPUTS,
  ...REGISTRY_INPUTS,
  ...REPORT_INPUTS,
  ...POLICY_INPUTS,
  ...SCAN_INPUTS,
  ...TOOL_INPUTS,
  ...TIMEOUT_INPUTS,
  ...RESCAN_INPUTS,
} as const;
export type InputName = keyof typeof INPUT_DEFAULTS;

/** Where this run works: the workflow's context and the folders the action writes to. */
export interface RunSettings {
  readonly github: GitHubContext;
  readonly workspace: string;
  /** Folder for the tarball, reports, SARIF and SBOM. */
  readonly outputDir: string;
  /** Folder for the action's private temporary state (credentials, sandboxes). */
  readonly tempDir: string;
}

/** The action's whole configuration, one part per stage, checked before any download or process. */
export interface Config {
  readonly run: RunSettings;
  readonly registries: Registries;
  readonly tools: ToolSettings;
  readonly build: BuildSettings;
  readonly scan: ScanSettings;
  readonly policy: PolicySettings;
  readonly report: ReportSettings;
  readonly publish: PublishSettings;
  /** The time limit of each stage's tool processes. */
  readonly timeouts: TimeoutSettings;
  readonly rescan: RescanSettings;
}

/** How an input's value is read: `core.getInput` on a runner, the local runner's flags otherwise. */
export type InputValues = (name: InputName) => string;

export interface ConfigSources {
  readonly read: InputValues;
  readonly github: GitHubContext;
  /** Where outputs go (RUNNER_TEMP on a runner, ./out locally). */
  readonly outputDir: string;
  readonly tempDir: string;
  /** Build time, the `created` label unless the build is reproducible. */
  readonly now: Date;
  /** The commit's time for reproducible builds; asked for only when every input is valid. */
  readonly commitTime?: () => Date | undefined;
}

/**
 * Parses every stage's inputs and reports every problem at once. The build is parsed last: its
 * labels may need the commit's time, which runs git, and only valid inputs may start a process.
 */
export function buildConfig(sources: ConfigSources): Config {
  const { github } = sources;
  const problems: string[] = [];
  const stage = <Name extends string>(defaults: Readonly<Record<Name, string>>): StageInputs<Name> =>
    new StageInputs(defaults, (name) => sources.read(name as InputName), problems, github.workspace);
  const platformCount = listInput(sources.read('platforms'), { commas: true }).length;
  const publish = parsePublishSettings(stage(PUBLISH_INPUTS), github, {
    platforms: sources.read('platforms').trim() !== '',
    platformCount,
    rescan: sources.read('rescan').trim().toLowerCase() === 'true',
  });
  const policy = parsePolicySettings(stage(POLICY_INPUTS), github.workspace);
  const scan = parseScanSettings(stage(SCAN_INPUTS));
  const report = parseReportSettings(stage(REPORT_INPUTS), publish.image);
  const pushesIndex = publish.mergeDigests.length > 0 || platformCount > 1;
  const tools = parseToolSettings(stage(TOOL_INPUTS), pushesIndex);
  const timeouts = parseTimeoutSettings(stage(TIMEOUT_INPUTS));
  const registries = parseRegistrySettings(stage(REGISTRY_INPUTS), github, publish.registry);
  const rescan = parseRescanSettings(stage(RESCAN_INPUTS), publish, {
    tags: sources.read('tags').trim() !== '',
    buildArgs: sources.read('build-args').trim() !== '',
  });
  const build = parseBuildSettings(stage(BUILD_INPUTS), {
    github,
    image: publish.image,
    version: publish.version,
    now: sources.now,
    buildsNothing: publish.mergeDigests.length > 0,
    ...(sources.commitTime ? { commitTime: sources.commitTime } : {}),
  });
  if (problems.length > 0 || build === undefined) throw new InputError(problems);
  const run = { github, workspace: github.workspace, outputDir: sources.outputDir, tempDir: sources.tempDir };
  return deepFreeze({ run, registries, tools, build, scan, policy, report, publish, timeouts, rescan });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}
