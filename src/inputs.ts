import { existsSync, lstatSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { GitHubContext } from './context.js';
import { isPullRequestEvent } from './context.js';
import type { SandboxNetworkMode } from './build/sandbox-network.js';
import { SANDBOX_NETWORK_MODES } from './build/sandbox-network.js';
import { TAG_PATTERN, computeLabels, computeTags } from './metadata.js';
import { isDigest, parseReference, registryOf } from './reference.js';
import {
  CRANE_DEFAULT,
  KANIKO_IMAGE_DEFAULT,
  TRIVY_DEFAULT,
  normalizeVersion,
  refusedTrivyVersion,
} from './tools/releases.js';
import { lstatWorkspaceFile } from './workspace-file.js';

export const SEVERITIES = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const SCANNERS = ['vuln', 'secret', 'misconfig', 'license'] as const;
export type Scanner = (typeof SCANNERS)[number];
export const SBOM_FORMATS = ['cyclonedx', 'spdx-json', 'none'] as const;
export type SbomFormat = (typeof SBOM_FORMATS)[number];

export const DEFAULT_TRIVY_DB_REPOSITORIES = [
  'mirror.gcr.io/aquasec/trivy-db:2',
  'ghcr.io/aquasecurity/trivy-db:2',
  'public.ecr.aws/aquasecurity/trivy-db:2',
] as const;

/**
 * Every input with the default the action falls back to when it is empty. action.yml declares
 * the same defaults (a test keeps them equal); those written there as `${{ github.* }}`
 * expressions are read from the context here, so local runs behave the same.
 */
export const INPUT_DEFAULTS = {
  context: '.',
  file: '',
  'build-args': '',
  labels: '',
  target: '',
  image: '',
  tags: '',
  push: 'auto',
  'registry-username': '',
  'registry-password': '',
  'github-token': '',
  'fail-on': 'CRITICAL,HIGH',
  severity: SEVERITIES.join(','),
  'ignore-unfixed': 'false',
  'ignore-file': '',
  scanners: 'vuln,secret',
  'upload-sarif': 'true',
  'sarif-category': '',
  sbom: 'cyclonedx',
  cache: 'false',
  'cache-repo': '',
  reproducible: 'false',
  'kaniko-image': KANIKO_IMAGE_DEFAULT,
  'trivy-version': TRIVY_DEFAULT.version,
  'crane-version': CRANE_DEFAULT.version,
  'tool-mirror': 'https://github.com',
  'insecure-registries': '',
  'trivy-db-repositories': DEFAULT_TRIVY_DB_REPOSITORIES.join('\n'),
  'kaniko-args': '',
  'build-network': 'isolated',
  'build-loopback-ports': '',
} as const;
export type InputName = keyof typeof INPUT_DEFAULTS;

const NO_INPUT = 'remove it: no input changes it, as the action decides where kaniko reads and writes';

/**
 * Executor flags (long names, as kaniko's cmd/executor/cmd/root.go defines them) that
 * `kaniko-args` may not give, each with what to use instead: the flags the action sets itself,
 * and those that move where kaniko reads the build from or writes its work, snapshots and output.
 */
export const KANIKO_OWNED_FLAGS: Readonly<Record<string, string>> = {
  context: 'use the `context` input',
  'context-sub-path': 'use the `context` input',
  bucket: 'use the `context` input',
  dockerfile: 'use the `file` input',
  destination: 'use the `image` and `tags` inputs',
  'no-push': 'use the `push` input',
  'push-retry': 'use the `push` input',
  'push-ignore-immutable-tag-errors': 'use the `push` input',
  'build-arg': 'use the `build-args` input',
  label: 'use the `labels` input',
  target: 'use the `target` input',
  reproducible: 'use the `reproducible` input',
  cache: 'use the `cache` and `cache-repo` inputs',
  'cache-repo': 'use the `cache` and `cache-repo` inputs',
  'cache-dir': 'use the `cache` and `cache-repo` inputs',
  'insecure-registry': 'use the `insecure-registries` input',
  'skip-tls-verify-registry': 'use the `insecure-registries` input',
  insecure: 'use the `insecure-registries` input',
  'skip-tls-verify': 'use the `insecure-registries` input',
  'registry-mirror': NO_INPUT,
  'registry-map': NO_INPUT,
  force: NO_INPUT,
  'tar-path': NO_INPUT,
  tarPath: NO_INPUT,
  'digest-file': NO_INPUT,
  'image-name-with-digest-file': NO_INPUT,
  'image-name-tag-with-digest-file': NO_INPUT,
  'oci-layout-path': NO_INPUT,
  'kaniko-dir': NO_INPUT,
  'ignore-path': NO_INPUT,
  'ignore-var-run': NO_INPUT,
  'whitelist-var-run': NO_INPUT,
};

/** The executor's one-letter flags; cobra adds `-h`, the only one that takes no value. */
const KANIKO_SHORTHANDS: Readonly<Record<string, string>> = {
  b: 'bucket',
  c: 'context',
  d: 'destination',
  f: 'dockerfile',
  h: 'help',
  v: 'verbosity',
};
const KANIKO_BOOL_SHORTHANDS = new Set(['h']);

/**
 * The long names of the flags one argv entry sets, read as pflag reads it: `--name[=value]`, or a
 * group of shorthands where each boolean one lets the next letter be a flag too, and the first
 * that takes a value takes the rest of the entry (`-fVALUE`, `-f=VALUE`, `-f VALUE`, `-hfVALUE`).
 */
export function kanikoFlagsOf(arg: string): string[] {
  if (arg.startsWith('--')) return [arg.slice(2).split('=', 1)[0]!];
  const flags: string[] = [];
  for (let index = 1; index < arg.length; index++) {
    const shorthand = arg[index]!;
    flags.push(KANIKO_SHORTHANDS[shorthand] ?? shorthand);
    if (!KANIKO_BOOL_SHORTHANDS.has(shorthand) || arg[index + 1] === '=') break;
  }
  return flags;
}

/** The action's whole configuration, checked once before any download or process. */
export interface Config {
  readonly github: GitHubContext;
  readonly workspace: string;
  /** Folder for the tarball, reports, SARIF and SBOM. */
  readonly outputDir: string;
  /** Folder for the action's private temporary state (credentials, sandboxes). */
  readonly tempDir: string;
  readonly context: string;
  readonly dockerfile: string;
  readonly buildArgs: readonly string[];
  readonly target: string;
  /** Repository without tag, e.g. `ghcr.io/octo-org/app`. */
  readonly image: string;
  /** Registry host of `image`, e.g. `ghcr.io` or `127.0.0.1:5000`. */
  readonly registry: string;
  /** Bare tags; the first names the build and is the one uploaded. */
  readonly tags: readonly string[];
  /** Computed OCI labels merged with the user's (user wins). */
  readonly labels: Readonly<Record<string, string>>;
  readonly push: boolean;
  readonly registryUsername: string;
  readonly registryPassword: string;
  readonly githubToken: string;
  readonly failOn: readonly Severity[];
  readonly severity: readonly Severity[];
  readonly ignoreUnfixed: boolean;
  /** Absolute path of the ignore file, or '' for none. */
  readonly ignoreFile: string;
  readonly scanners: readonly Scanner[];
  readonly uploadSarif: boolean;
  readonly sarifCategory: string;
  readonly sbom: SbomFormat;
  readonly cache: boolean;
  readonly cacheRepo: string;
  readonly reproducible: boolean;
  readonly kanikoImage: string;
  readonly trivyVersion: string;
  readonly craneVersion: string;
  readonly toolMirror: string;
  readonly insecureRegistries: readonly string[];
  readonly trivyDbRepositories: readonly string[];
  readonly kanikoArgs: readonly string[];
  /** The build's network: its own (isolated) or, by explicit choice, the runner's (host). */
  readonly buildNetwork: SandboxNetworkMode;
  /** Runner loopback ports the build may reach on its own network. */
  readonly buildLoopbackPorts: readonly number[];
}

/** Every bad input at once, each line naming the input, the value and what is accepted. */
export class InputError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(
      problems.length === 1
        ? `Invalid input: ${problems[0]}`
        : `${problems.length} invalid inputs:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`,
    );
    this.name = 'InputError';
  }
}

export type InputReader = (name: InputName) => string;

export interface ConfigSources {
  readonly read: InputReader;
  readonly github: GitHubContext;
  /** Where outputs go (RUNNER_TEMP on a runner, ./out locally). */
  readonly outputDir: string;
  readonly tempDir: string;
  /** Build time, the `created` label unless the build is reproducible. */
  readonly now: Date;
  /**
   * The commit's time for reproducible builds, asked for only when `reproducible` is on and every
   * input is valid (it may run git, and bad inputs must fail before any process).
   */
  readonly commitTime?: () => Date | undefined;
}

const HOST =
  /^(?:localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)+|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/;
const HOST_WITH_PORT = /^(?:[a-zA-Z0-9-]+)(?::\d{1,5})$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

/** Splits a list input on newlines (and commas where values cannot contain them). */
export function listInput(value: string, { commas = false } = {}): string[] {
  return value
    .split(commas ? /[\n,]/ : /\n/)
    .map((item) => item.trim())
    .filter((item) => item !== '' && !item.startsWith('#'));
}

/** `registry/path` with no tag or digest, or the problem with it. */
export function imageProblem(image: string): string | undefined {
  const { tag, digest } = parseReference(image);
  if (tag !== undefined || digest !== undefined)
    return 'must not contain a tag or digest (give tags in `tags`)';
  const [registry = '', ...path] = image.split('/');
  if (path.length === 0 || !(HOST.test(registry) || HOST_WITH_PORT.test(registry)))
    return 'must start with a registry host, e.g. ghcr.io/owner/app';
  if (image !== image.trim()) return 'must not contain white space';
  const bad = path.find((component) => !PATH_COMPONENT.test(component));
  if (bad !== undefined)
    return `path component "${bad}" is not allowed: use lower-case letters, digits and single separators (. _ __ -)`;
  if (image.length > 255) return 'is longer than 255 characters';
  return undefined;
}

/** A full image reference with a tag and/or digest, as `kaniko-image` and DB repositories take. */
export function referenceProblem(reference: string): string | undefined {
  const { name, tag, digest } = parseReference(reference);
  if (digest !== undefined && !isDigest(digest)) return `digest "${digest}" is not sha256:<64 hex>`;
  if (tag !== undefined && !TAG_PATTERN.test(tag)) return `tag "${tag}" is not a valid tag`;
  return imageProblem(name);
}

function quote(value: string): string {
  return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
}

/**
 * Builds the frozen Config from the inputs and the context. Pure except for the file system
 * checks on the context, the Dockerfile and the ignore file, which must exist before any work.
 */
export function buildConfig(sources: ConfigSources): Config {
  const { github } = sources;
  const problems: string[] = [];
  const raw = (name: InputName): string => sources.read(name).trim() || INPUT_DEFAULTS[name];
  const problem = (name: InputName, value: string, message: string): void => {
    problems.push(`\`${name}\` ${quote(value)} ${message}`);
  };
  const bool = (name: InputName): boolean => {
    const value = raw(name);
    if (/^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
    problem(name, value, 'is not a boolean: use true or false');
    return false;
  };
  const oneOf = <T extends string>(name: InputName, allowed: readonly T[]): T => {
    const value = raw(name);
    if ((allowed as readonly string[]).includes(value)) return value as T;
    problem(name, value, `is not one of: ${allowed.join(', ')}`);
    return allowed[0]!;
  };
  const severities = (name: InputName): Severity[] => {
    if (name === 'fail-on' && raw(name).toLowerCase() === 'none') return [];
    const values = listInput(raw(name).toUpperCase(), { commas: true });
    const unknown = values.filter((value) => !(SEVERITIES as readonly string[]).includes(value));
    if (unknown.length > 0)
      problem(name, unknown.join(','), `has an unknown severity: use ${SEVERITIES.join(', ')}`);
    return SEVERITIES.filter((severity) => values.includes(severity));
  };
  const toolVersion = (name: 'trivy-version' | 'crane-version'): string => {
    const value = raw(name);
    const normalized = normalizeVersion(value);
    if (!normalized) {
      problem(
        name,
        value,
        'is not a version: use x.y.z or a semver pre-release such as 0.75.0-rc.1 (a leading v is allowed; build metadata such as +build is not, because the tool cache would file it under x.y.z)',
      );
      return '';
    }
    return normalized;
  };
  const insidePath = (name: InputName, value: string, base: string): string | undefined => {
    const absolute = resolve(base, value);
    if (!existsSync(absolute)) {
      problem(name, value, `does not exist (looked for ${absolute})`);
      return undefined;
    }
    const real = realpathSync(absolute);
    const fromWorkspace = relative(realpathSync(sources.github.workspace), real);
    if (fromWorkspace.startsWith('..') || isAbsolute(fromWorkspace)) {
      problem(name, value, `resolves to ${real}, outside the workspace ${sources.github.workspace}`);
      return undefined;
    }
    return real;
  };

  const workspaceFile = (name: InputName, value: string, path: string, failure: string): string => {
    try {
      lstatWorkspaceFile(github.workspace, path);
      return resolve(github.workspace, path);
    } catch (error) {
      problem(name, value, `${failure}: ${(error as Error).message}`);
      return '';
    }
  };

  // Build inputs.
  const contextValue = raw('context');
  const context = insidePath('context', contextValue, github.workspace);
  if (context && !statSync(context).isDirectory()) problem('context', contextValue, 'is not a directory');
  const fileValue = sources.read('file').trim();
  const dockerfile = fileValue
    ? insidePath('file', fileValue, github.workspace)
    : context &&
      insidePath('file', join(relative(github.workspace, context) || '.', 'Dockerfile'), github.workspace);
  if (dockerfile && !statSync(dockerfile).isFile())
    problem(
      'file',
      fileValue || dockerfile,
      'is not a file: give the path of the Dockerfile, relative to the workspace',
    );

  const buildArgs = listInput(raw('build-args'));
  for (const arg of buildArgs) {
    const key = arg.split('=', 1)[0]!;
    if (!arg.includes('=') || !ENV_KEY.test(key))
      problem('build-args', arg, 'is not NAME=value (one per line; NAME is letters, digits and _)');
  }
  const userLabels: Record<string, string> = {};
  for (const line of listInput(raw('labels'))) {
    const equals = line.indexOf('=');
    const key = line.slice(0, equals).trim();
    if (equals <= 0 || !LABEL_KEY.test(key)) problem('labels', line, 'is not key=value (one per line)');
    else userLabels[key] = line.slice(equals + 1).trim();
  }
  const target = raw('target');
  if (target && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(target))
    problem('target', target, 'is not a stage name (letters, digits, _ . -)');

  // Image, tags, push.
  const imageValue = raw('image') || `ghcr.io/${github.repository}`.toLowerCase();
  const imageIssue =
    github.repository || raw('image')
      ? imageProblem(imageValue)
      : 'is empty and GITHUB_REPOSITORY is not set: give `image`';
  if (imageIssue) problem('image', imageValue, imageIssue);
  const registry = registryOf(imageValue);

  let tags: string[] = [];
  let version = '';
  const tagsValue = raw('tags');
  if (tagsValue) {
    tags = [...new Set(listInput(tagsValue, { commas: true }))];
    for (const tag of tags) {
      if (tag.includes(':') || tag.includes('/'))
        problem('tags', tag, 'must be a bare tag: the image name comes from `image`');
      else if (!TAG_PATTERN.test(tag))
        problem('tags', tag, 'is not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-], at most 128)');
    }
    version = tags[0] ?? '';
  } else {
    try {
      ({ tags: tags = [], version } = computeTags(github) as { tags: string[]; version: string });
    } catch (error) {
      problems.push(`\`tags\`: ${(error as Error).message}`);
    }
  }

  const pushValue = oneOf('push', ['auto', 'true', 'false'] as const);
  const push = pushValue === 'auto' ? !isPullRequestEvent(github.eventName) : pushValue === 'true';

  // Scan and policy.
  const problemsBeforeSeverity = problems.length;
  const severity = severities('severity');
  const failOn = severities('fail-on');
  const unreported = failOn.filter((level) => !severity.includes(level));
  // An unknown severity is already reported; comparing the two lists would only repeat it.
  if (unreported.length > 0 && problems.length === problemsBeforeSeverity)
    problem(
      'fail-on',
      raw('fail-on'),
      `includes ${unreported.join(',')}, which \`severity\` does not report: add it to \`severity\``,
    );
  const scannerValues = listInput(raw('scanners').toLowerCase(), { commas: true });
  const unknownScanners = scannerValues.filter((value) => !(SCANNERS as readonly string[]).includes(value));
  if (unknownScanners.length > 0 || scannerValues.length === 0)
    problem('scanners', raw('scanners'), `has an unknown scanner: use ${SCANNERS.join(', ')}`);
  const scanners = SCANNERS.filter((scanner) => scannerValues.includes(scanner));

  const ignoreValue = sources.read('ignore-file').trim();
  // lstat, not exists: a dangling link must be refused like any other link, not skipped.
  const defaultIgnoreFile = ['.trivyignore.yaml', '.trivyignore']
    .map((name) => join(github.workspace, name))
    .find((path) => lstatSync(path, { throwIfNoEntry: false }) !== undefined);
  const ignoreFile = ignoreValue
    ? workspaceFile('ignore-file', ignoreValue, ignoreValue, 'cannot be read')
    : defaultIgnoreFile
      ? workspaceFile(
          'ignore-file',
          '',
          defaultIgnoreFile,
          'is empty and the default ignore file cannot be read',
        )
      : '';

  const sbom = oneOf('sbom', SBOM_FORMATS);
  const sarifCategory = raw('sarif-category') || `build-scan-push:${imageValue}`;

  // Cache, tools, registries.
  const cache = bool('cache');
  const cacheRepo = raw('cache-repo') || `${imageValue}/cache`;
  if (sources.read('cache-repo').trim()) {
    const issue = imageProblem(cacheRepo);
    if (issue) problem('cache-repo', cacheRepo, issue);
  }
  const kanikoImage = raw('kaniko-image');
  const kanikoIssue = referenceProblem(kanikoImage);
  const { tag: kanikoTag, digest: kanikoDigest } = parseReference(kanikoImage);
  if (kanikoIssue) problem('kaniko-image', kanikoImage, kanikoIssue);
  else if (kanikoTag === undefined && kanikoDigest === undefined)
    problem('kaniko-image', kanikoImage, 'needs a tag or a digest (a digest is safest)');

  const trivyVersion = toolVersion('trivy-version');
  const refusal = trivyVersion ? refusedTrivyVersion(trivyVersion) : undefined;
  if (refusal) problem('trivy-version', raw('trivy-version'), `is refused. ${refusal}`);
  const craneVersion = toolVersion('crane-version');

  const toolMirror = raw('tool-mirror').replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s/]+(\/\S*)?$/.test(toolMirror))
    problem('tool-mirror', raw('tool-mirror'), 'is not an http(s) URL, e.g. https://github.example.com');

  const insecureRegistries = listInput(raw('insecure-registries'), { commas: true });
  for (const host of insecureRegistries)
    if (!(HOST.test(host) || HOST_WITH_PORT.test(host)))
      problem('insecure-registries', host, 'is not a host[:port]');

  const trivyDbRepositories = listInput(raw('trivy-db-repositories'), { commas: true });
  for (const repository of trivyDbRepositories) {
    const issue = referenceProblem(repository);
    if (issue) problem('trivy-db-repositories', repository, issue);
  }

  const kanikoArgs = listInput(raw('kaniko-args'));
  for (const arg of kanikoArgs) {
    if (!/^--?[A-Za-z]/.test(arg)) {
      problem('kaniko-args', arg, 'is not a flag: give one --flag or --flag=value per line');
      continue;
    }
    for (const flag of kanikoFlagsOf(arg).filter((name) => Object.hasOwn(KANIKO_OWNED_FLAGS, name)))
      problem('kaniko-args', arg, `sets --${flag}, which the action owns: ${KANIKO_OWNED_FLAGS[flag]}`);
  }

  const buildNetwork = oneOf('build-network', SANDBOX_NETWORK_MODES);
  const buildLoopbackPorts = listInput(raw('build-loopback-ports'), { commas: true }).map((value) => {
    const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
    if (!(port >= 1 && port <= 65535))
      problem('build-loopback-ports', value, 'is not a TCP port (1-65535): list ports, e.g. 5000');
    return port;
  });
  if (buildNetwork === 'host' && buildLoopbackPorts.length > 0)
    problem(
      'build-loopback-ports',
      raw('build-loopback-ports'),
      'has no effect with `build-network: host`, where every loopback port is reachable: remove one of the two',
    );

  const ignoreUnfixed = bool('ignore-unfixed');
  const uploadSarif = bool('upload-sarif');
  const reproducible = bool('reproducible');

  if (problems.length > 0) throw new InputError(problems);

  const created = (reproducible ? (sources.commitTime?.() ?? new Date(0)) : sources.now).toISOString();
  const labels = computeLabels({ context: github, version, created, userLabels });

  return Object.freeze({
    github,
    workspace: github.workspace,
    outputDir: sources.outputDir,
    tempDir: sources.tempDir,
    context: context!,
    dockerfile: dockerfile!,
    buildArgs: Object.freeze(buildArgs),
    target,
    image: imageValue,
    registry,
    tags: Object.freeze(tags),
    labels: Object.freeze(labels),
    push,
    registryUsername: sources.read('registry-username').trim() || github.actor,
    registryPassword: sources.read('registry-password').trim(),
    githubToken: sources.read('github-token').trim(),
    failOn: Object.freeze(failOn),
    severity: Object.freeze(severity),
    ignoreUnfixed,
    ignoreFile,
    scanners: Object.freeze(scanners),
    uploadSarif,
    sarifCategory,
    sbom,
    cache,
    cacheRepo,
    reproducible,
    kanikoImage,
    trivyVersion,
    craneVersion,
    toolMirror,
    insecureRegistries: Object.freeze(insecureRegistries),
    trivyDbRepositories: Object.freeze(trivyDbRepositories),
    kanikoArgs: Object.freeze(kanikoArgs),
    buildNetwork,
    buildLoopbackPorts: Object.freeze(buildLoopbackPorts),
  });
}
