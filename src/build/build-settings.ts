import { statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { GitHubContext } from '../context.js';
import type { StageInputs } from '../input-parser.js';
import { imageProblem } from '../input-parser.js';
import { computeLabels } from '../metadata.js';
import type { Platform } from '../platform.js';
import { formatPlatform, parsePlatform, runnerPlatform, samePlatform } from '../platform.js';
import { KANIKO_OWNED_FLAGS, kanikoFlagsOf } from './kaniko-flags.js';
import type { SandboxNetworkMode } from './sandbox-network.js';
import { SANDBOX_NETWORK_MODES } from './sandbox-network.js';

export const BUILD_INPUTS = {
  context: '.',
  file: '',
  'build-args': '',
  labels: '',
  target: '',
  cache: 'false',
  'cache-repo': '',
  reproducible: 'false',
  'kaniko-args': '',
  'build-network': 'isolated',
  'build-loopback-ports': '',
  platforms: '',
} as const;
type BuildInput = keyof typeof BUILD_INPUTS;

/** What kaniko builds, how, and in what sandbox. */
export interface BuildSettings {
  /** Build context on the runner, inside the workspace. */
  readonly context: string;
  readonly dockerfile: string;
  /** NAME=value. */
  readonly buildArgs: readonly string[];
  /** Computed OCI labels merged with the user's (user wins). */
  readonly labels: Readonly<Record<string, string>>;
  readonly target: string;
  readonly cache: boolean;
  readonly cacheRepo: string;
  readonly reproducible: boolean;
  readonly kanikoArgs: readonly string[];
  /** The build's network: its own (isolated) or, by explicit choice, the runner's (host). */
  readonly network: SandboxNetworkMode;
  /** Runner loopback ports the build may reach on its own network. */
  readonly loopbackPorts: readonly number[];
  /** What is built, one image per platform, in the order given; the runner's by default. */
  readonly platforms: readonly Platform[];
}

export interface BuildContext {
  readonly github: GitHubContext;
  /** The image and the version its tags express, for the default cache repository and labels. */
  readonly image: string;
  readonly version: string;
  /** Build time, the `created` label unless the build is reproducible. */
  readonly now: Date;
  /**
   * The commit's time for reproducible builds, asked for only when every input is valid (it may
   * run git, and bad inputs must fail before any process): so the build stage is parsed last.
   */
  readonly commitTime?: () => Date | undefined;
  /** A merge of pushed digests builds nothing: its job need not check out the Dockerfile. */
  readonly buildsNothing?: boolean;
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

export function parseBuildSettings(
  inputs: StageInputs<BuildInput>,
  context: BuildContext,
): BuildSettings | undefined {
  const { contextDir, dockerfile } = context.buildsNothing
    ? { contextDir: inputs.workspace, dockerfile: join(inputs.workspace, 'Dockerfile') }
    : buildFiles(inputs);
  const buildArgs = inputs.list('build-args');
  for (const arg of buildArgs)
    if (!arg.includes('=') || !ENV_KEY.test(arg.split('=', 1)[0]!))
      inputs.problem('build-args', arg, 'is not NAME=value (one per line; NAME is letters, digits and _)');
  const userLabels = parseLabels(inputs);
  const target = inputs.value('target');
  if (target && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(target))
    inputs.problem('target', target, 'is not a stage name (letters, digits, _ . -)');
  const cache = inputs.bool('cache');
  const cacheRepo = inputs.value('cache-repo') || `${context.image}/cache`;
  if (inputs.given('cache-repo')) {
    const issue = imageProblem(cacheRepo);
    if (issue) inputs.problem('cache-repo', cacheRepo, issue);
  }
  const kanikoArgs = parseKanikoArgs(inputs);
  const { network, loopbackPorts } = parseNetwork(inputs);
  const reproducible = inputs.bool('reproducible');
  const platforms = parsePlatforms(inputs);
  if (inputs.problemCount > 0) return undefined;
  const created = (reproducible ? (context.commitTime?.() ?? new Date(0)) : context.now).toISOString();
  const labels = computeLabels({ context: context.github, version: context.version, created, userLabels });
  return {
    context: contextDir!,
    dockerfile: dockerfile!,
    buildArgs,
    labels,
    target,
    cache,
    cacheRepo,
    reproducible,
    kanikoArgs,
    network,
    loopbackPorts,
    platforms,
  };
}

/** `os/arch[/variant]` values, normalized as kaniko's containerd does; each at most once. */
function parsePlatforms(inputs: StageInputs<BuildInput>): Platform[] {
  const platforms: Platform[] = [];
  for (const value of inputs.list('platforms', { commas: true })) {
    const parsed = parsePlatform(value);
    if ('problem' in parsed) inputs.problem('platforms', value, parsed.problem);
    else if (platforms.some((known) => samePlatform(known, parsed)))
      inputs.problem('platforms', value, `names ${formatPlatform(parsed)} twice: list each platform once`);
    else platforms.push(parsed);
  }
  if (platforms.length > 0) return platforms;
  if (inputs.given('platforms'))
    inputs.problem(
      'platforms',
      inputs.given('platforms'),
      'lists no platform: give os/arch values, e.g. linux/amd64,linux/arm64',
    );
  return [runnerPlatform()];
}

/** The context folder and the Dockerfile, both inside the workspace. */
function buildFiles(inputs: StageInputs<BuildInput>): { contextDir?: string; dockerfile?: string } {
  const contextValue = inputs.value('context');
  const contextDir = inputs.pathInWorkspace('context', contextValue);
  if (contextDir && !statSync(contextDir).isDirectory())
    inputs.problem('context', contextValue, 'is not a directory');
  const fileValue = inputs.given('file');
  const dockerfile = fileValue
    ? inputs.pathInWorkspace('file', fileValue)
    : contextDir &&
      inputs.pathInWorkspace('file', join(relative(inputs.workspace, contextDir) || '.', 'Dockerfile'));
  if (dockerfile && !statSync(dockerfile).isFile())
    inputs.problem(
      'file',
      fileValue || dockerfile,
      'is not a file: give the path of the Dockerfile, relative to the workspace',
    );
  return { contextDir, dockerfile };
}

function parseLabels(inputs: StageInputs<BuildInput>): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const line of inputs.list('labels')) {
    const equals = line.indexOf('=');
    const key = line.slice(0, equals).trim();
    if (equals <= 0 || !LABEL_KEY.test(key))
      inputs.problem('labels', line, 'is not key=value (one per line)');
    else labels[key] = line.slice(equals + 1).trim();
  }
  return labels;
}

function parseKanikoArgs(inputs: StageInputs<BuildInput>): string[] {
  const args = inputs.list('kaniko-args');
  for (const arg of args) {
    if (!/^--?[A-Za-z]/.test(arg)) {
      inputs.problem('kaniko-args', arg, 'is not a flag: give one --flag or --flag=value per line');
      continue;
    }
    for (const flag of kanikoFlagsOf(arg).filter((name) => Object.hasOwn(KANIKO_OWNED_FLAGS, name)))
      inputs.problem(
        'kaniko-args',
        arg,
        `sets --${flag}, which the action owns: ${KANIKO_OWNED_FLAGS[flag]}`,
      );
  }
  return args;
}

function parseNetwork(inputs: StageInputs<BuildInput>): {
  network: SandboxNetworkMode;
  loopbackPorts: number[];
} {
  const network = inputs.oneOf('build-network', SANDBOX_NETWORK_MODES);
  const loopbackPorts = inputs.list('build-loopback-ports', { commas: true }).map((value) => {
    const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
    if (!(port >= 1 && port <= 65535))
      inputs.problem('build-loopback-ports', value, 'is not a TCP port (1-65535): list ports, e.g. 5000');
    return port;
  });
  if (network === 'host' && loopbackPorts.length > 0)
    inputs.problem(
      'build-loopback-ports',
      inputs.value('build-loopback-ports'),
      'has no effect with `build-network: host`, where every loopback port is reachable: remove one of the two',
    );
  return { network, loopbackPorts };
}
