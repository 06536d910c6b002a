import type { Dockerfile, Stage } from '../dockerfile.js';
import { DEFAULT_REGISTRY, parseReference } from '../reference.js';

/** The OCI annotation keys (image-spec annotations.md) the image carries as labels. */
export const BASE_NAME_LABEL = 'org.opencontainers.image.base.name';
export const BASE_DIGEST_LABEL = 'org.opencontainers.image.base.digest';

/** What the final stage is built on, as far as the Dockerfile alone says. */
export type FinalBase =
  /** `reference` as written after ARG substitution; `platform` the one kaniko pulls it for. */
  | { readonly kind: 'image'; readonly reference: string; readonly platform: string }
  | { readonly kind: 'scratch' }
  /** Not worked out here (an ARG form this does not evaluate, a missing target): no label. */
  | { readonly kind: 'unknown'; readonly reason: string };

export interface FinalBaseOptions {
  /** The `target` input: the stage built instead of the last one. */
  readonly target: string;
  /** NAME=value, the `build-args` input. */
  readonly buildArgs: readonly string[];
  /** `os/arch[/variant]` kaniko builds for (`--custom-platform`), the TARGET* args. */
  readonly platform: string;
  /** `os/arch[/variant]` kaniko runs on, the BUILD* args. */
  readonly buildPlatform: string;
}

/**
 * The image the built stage (`target`, else the last) ends up on: a FROM naming an earlier stage
 * follows that stage. ARGs are substituted as Docker does in FROM: only those declared before the
 * first FROM (a build arg overrides the default), plus the automatic platform ARGs.
 */
export function finalBase(dockerfile: Dockerfile, options: FinalBaseOptions): FinalBase {
  const { stages } = dockerfile;
  const wanted = options.target.toLowerCase();
  let index = wanted ? stages.findIndex((stage) => stage.name === wanted) : stages.length - 1;
  if (index < 0)
    return {
      kind: 'unknown',
      reason: wanted ? `no stage is named ${options.target}` : 'there is no FROM line',
    };
  const args = globalArgs(dockerfile, options);
  for (;;) {
    const stage = stages[index]!;
    const base = substitute(stage.base, args);
    if (base === undefined) return unevaluated(stage);
    const earlier = stages.slice(0, index).findLastIndex((other) => other.name === base.toLowerCase());
    if (earlier >= 0) {
      index = earlier;
      continue;
    }
    if (base.toLowerCase() === 'scratch') return { kind: 'scratch' };
    const platform = platformFlag(stage, args);
    if (platform === undefined) return unevaluated(stage);
    return { kind: 'image', reference: base, platform: platform || options.platform };
  }
}

function unevaluated(stage: Stage): FinalBase {
  return {
    kind: 'unknown',
    reason: `line ${stage.from.line} (${stage.from.text}) uses a variable form this does not evaluate`,
  };
}

/** The FROM's `--platform` value, substituted; '' when absent, undefined when not evaluated. */
function platformFlag(stage: Stage, args: ReadonlyMap<string, string>): string | undefined {
  const flag = stage.from.args.split(' ').find((word) => word.toLowerCase().startsWith('--platform='));
  return flag === undefined ? '' : substitute(flag.slice('--platform='.length), args);
}

/** The ARGs a FROM line can use: declared before the first FROM, and the platform ones. */
function globalArgs(dockerfile: Dockerfile, options: FinalBaseOptions): Map<string, string> {
  const args = new Map<string, string>();
  for (const [prefix, platform] of [
    ['TARGET', options.platform],
    ['BUILD', options.buildPlatform],
  ] as const) {
    const [os = '', arch = '', variant = ''] = platform.split('/');
    args.set(`${prefix}PLATFORM`, platform);
    args.set(`${prefix}OS`, os);
    args.set(`${prefix}ARCH`, arch);
    args.set(`${prefix}VARIANT`, variant);
  }
  const given = new Map(
    options.buildArgs.map((arg) => [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]),
  );
  for (const instruction of dockerfile.instructions) {
    if (instruction.keyword === 'FROM') break;
    if (instruction.keyword !== 'ARG') continue;
    for (const word of instruction.args.split(' ')) {
      const equals = word.indexOf('=');
      const name = equals < 0 ? word : word.slice(0, equals);
      const fallback = equals < 0 ? '' : unquote(word.slice(equals + 1));
      args.set(name, given.get(name) ?? fallback);
    }
  }
  return args;
}

const unquote = (value: string): string => value.replace(/^(["'])(.*)\1$/, '$2');

const VARIABLE = /\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:[-+])([^}$]*))?\})/g;

/**
 * `$NAME`, `${NAME}`, `${NAME:-word}` and `${NAME:+word}` replaced; undefined when the text uses
 * another form, an escape or a name the FROM cannot see (Docker would make it empty, which the
 * label must not guess at).
 */
export function substitute(text: string, args: ReadonlyMap<string, string>): string | undefined {
  let unknown = false;
  const replaced = text.replace(
    VARIABLE,
    (_match, bare?: string, braced?: string, operator?: string, word?: string) => {
      const name = (bare ?? braced)!;
      const value = args.get(name);
      if (value === undefined) unknown = true;
      if (operator === ':-') return value || (word ?? '');
      if (operator === ':+') return value ? (word ?? '') : '';
      return value ?? '';
    },
  );
  return unknown || /[$\\]/.test(replaced) ? undefined : replaced;
}

/**
 * The base image's name as the OCI key wants it: fully qualified (`alpine:3.20` is
 * `docker.io/library/alpine:3.20`), with its tag (`latest` when none) or digest as written.
 */
export function qualifiedBaseName(reference: string): string {
  const { registry, repository, tag, digest } = parseReference(reference);
  const dockerHub = registry === DEFAULT_REGISTRY || registry === 'docker.io';
  const path = dockerHub && !repository.includes('/') ? `library/${repository}` : repository;
  const suffix = `${tag === undefined ? (digest ? '' : ':latest') : `:${tag}`}${digest ? `@${digest}` : ''}`;
  return `${dockerHub ? 'docker.io' : registry}/${path}${suffix}`;
}

/** The labels for a resolved base; merged under the others, so a user's `labels` still win. */
export function withBaseLabels(
  labels: Readonly<Record<string, string>>,
  base: { readonly name: string; readonly digest: string },
): Record<string, string> {
  return { [BASE_NAME_LABEL]: base.name, [BASE_DIGEST_LABEL]: base.digest, ...labels };
}

/**
 * Why the built image is not built on the base's layers, or undefined when it is: the base
 * image's DiffIDs must be the first DiffIDs of the built image, in order.
 */
export function baseLayersMismatch(
  baseDiffIds: readonly string[],
  builtDiffIds: readonly string[],
): string | undefined {
  if (baseDiffIds.length > builtDiffIds.length)
    return `the base has ${baseDiffIds.length} layers, the built image only ${builtDiffIds.length}`;
  const differing = baseDiffIds.findIndex((diffId, index) => builtDiffIds[index] !== diffId);
  return differing < 0
    ? undefined
    : `layer ${differing + 1} of the built image is ${builtDiffIds[differing]}, the base's is ${baseDiffIds[differing]}`;
}
