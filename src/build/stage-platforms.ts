import type { Instruction, Stage } from '../dockerfile.js';
import { parseDockerfile } from '../dockerfile.js';
import type { Platform } from '../platform.js';
import { formatPlatform, parsePlatform, samePlatform } from '../platform.js';
import { substitute } from './base-image.js';

/**
 * BuildKit's automatic platform arguments for a build of `target` on `build`, as build args:
 * kaniko v1.28.2 sets them for RUN lines (pkg/dockerfile/buildargs.go InitPredefinedArgs) but not
 * in FROM lines, where it substitutes only the ARGs before the first FROM and the build args
 * (pkg/dockerfile/dockerfile.go unifyArgs); given as build args they work there too, as in
 * BuildKit. A build arg the user gives by the same name wins; an empty value is left out, as
 * kaniko drops empty build args from FROM lines.
 */
export function withPlatformArgs(buildArgs: readonly string[], target: Platform, build: Platform): string[] {
  const given = new Set(buildArgs.map((arg) => arg.split('=', 1)[0]));
  const automatic = [...platformArgs('TARGET', target), ...platformArgs('BUILD', build)];
  return [...automatic.filter((arg) => !given.has(arg.split('=', 1)[0])), ...buildArgs];
}

function platformArgs(prefix: string, platform: Platform): string[] {
  return [
    `${prefix}PLATFORM=${formatPlatform(platform)}`,
    `${prefix}OS=${platform.os}`,
    `${prefix}ARCH=${platform.architecture}`,
    ...(platform.variant ? [`${prefix}VARIANT=${platform.variant}`] : []),
  ];
}

/** A stage kaniko builds for one target platform, and the platform its commands run on. */
export interface BuiltStage {
  readonly stage: Stage;
  /** The platform of its root: its FROM's `--platform`, its base stage's, else the target. */
  readonly platform: Platform;
  /** Whether it runs a program: a RUN, or a base stage's ONBUILD RUN. */
  readonly runs: boolean;
  /**
   * The image its FROM names, to be pinned to `platform`'s manifest when that is not the target:
   * kaniko pulls every base for `--custom-platform` and ignores `--platform`, but a manifest digest
   * is that image whatever the platform asked for.
   */
  readonly pin?: { readonly reference: string };
}

/**
 * The stages kaniko v1.28.2 builds for `target` (the `target` stage, else the last, and those it
 * needs through FROM and `COPY --from`; MakeKanikoStages in pkg/dockerfile/dockerfile.go, this
 * fork skipping unused stages by default), each with the platform its commands run on. `buildArgs`
 * are those kaniko is given, the platform ones included (withPlatformArgs). A FROM this cannot
 * work out makes every earlier stage count, a `COPY --from` with a variable every stage, an
 * unknown target every stage.
 */
export function builtStages(
  dockerfileText: string,
  options: { readonly target: string; readonly buildArgs: readonly string[]; readonly platform: Platform },
): BuiltStage[] {
  const dockerfile = parseDockerfile(dockerfileText);
  const wanted = options.target.toLowerCase();
  const { stages } = dockerfile;
  const targetIndex = wanted ? stages.findIndex((stage) => stage.name === wanted) : stages.length - 1;
  const considered = targetIndex < 0 ? stages : stages.slice(0, targetIndex + 1);
  const args = kanikoMetaArgs(dockerfile.instructions, options.buildArgs);
  // kaniko's stageByName map: of two stages with one name, the later wins for COPY --from.
  const byName = new Map(considered.map((stage, index) => [stage.name, index] as const));
  const every = considered.map((_stage, index) => index);
  const built = new Set<number>();
  const pending: number[] = [];
  const add = (index: number): void => {
    if (index < 0 || index >= considered.length || built.has(index)) return;
    built.add(index);
    pending.push(index);
  };
  (targetIndex < 0 ? every : [targetIndex]).forEach(add);
  const runs = new Map<number, boolean>();
  for (let index = pending.pop(); index !== undefined; index = pending.pop()) {
    const base = baseStage(considered, index, args);
    const bases =
      base === 'unknown' ? every.filter((earlier) => earlier < index) : base === undefined ? [] : [base];
    bases.forEach(add);
    const onBuild = bases.flatMap((other) => onBuildCommands(considered[other]?.instructions ?? []));
    const commands: Command[] = [...onBuild, ...considered[index]!.instructions];
    runs.set(
      index,
      commands.some((command) => command.keyword === 'RUN'),
    );
    for (const from of copySources(commands)) {
      if (/^\d+$/.test(from)) add(Number(from));
      else if (from.includes('$')) every.forEach(add);
      else add(byName.get(from.toLowerCase()) ?? -1);
    }
  }
  return [...built]
    .sort((a, b) => a - b)
    .map((index) => describeStage(considered, index, args, options.platform, runs.get(index) ?? false));
}

function describeStage(
  stages: readonly Stage[],
  index: number,
  args: ReadonlyMap<string, string>,
  target: Platform,
  runs: boolean,
): BuiltStage {
  const stage = stages[index]!;
  const platform = stagePlatform(stages, index, args, target);
  const reference = substitute(stage.base, args);
  const pinned =
    !samePlatform(platform, target) &&
    reference !== undefined &&
    reference.toLowerCase() !== 'scratch' &&
    baseStage(stages, index, args) === undefined;
  return { stage, platform, runs, ...(pinned ? { pin: { reference } } : {}) };
}

/** A FROM's own `--platform`, else its base stage's platform, else the target's. */
function stagePlatform(
  stages: readonly Stage[],
  index: number,
  args: ReadonlyMap<string, string>,
  target: Platform,
): Platform {
  const own = fromPlatform(stages[index]!.from, args);
  if (own) return own;
  const base = baseStage(stages, index, args);
  return typeof base === 'number' ? stagePlatform(stages, base, args, target) : target;
}

/** The FROM's `--platform=…` after substitution, when it has one that names a platform. */
function fromPlatform(from: Instruction, args: ReadonlyMap<string, string>): Platform | undefined {
  const flag = from.args.split(' ').find((word) => word.toLowerCase().startsWith('--platform='));
  const value = flag && substitute(flag.slice('--platform='.length), args);
  const parsed = value ? parsePlatform(value) : undefined;
  return parsed && !('problem' in parsed) ? parsed : undefined;
}

/** An instruction of a stage as kaniko runs it: a base stage's ONBUILD ones come first. */
type Command = Pick<Instruction, 'keyword' | 'args'>;

/**
 * The earlier stage a stage's FROM names (kaniko's baseImageIndex: the first earlier stage of that
 * name), undefined for an image, 'unknown' when the FROM uses a form `substitute` does not evaluate.
 */
function baseStage(
  stages: readonly Stage[],
  index: number,
  args: ReadonlyMap<string, string>,
): number | undefined | 'unknown' {
  const base = substitute(stages[index]!.base, args);
  if (base === undefined) return 'unknown';
  const found = stages.slice(0, index).findIndex((stage) => stage.name === base.toLowerCase());
  return found < 0 ? undefined : found;
}

/** The instructions a stage's ONBUILD lines add to a stage built FROM it. */
function onBuildCommands(instructions: readonly Instruction[]): Command[] {
  return instructions
    .filter((instruction) => instruction.keyword === 'ONBUILD')
    .map((instruction) => {
      const space = instruction.args.indexOf(' ');
      const keyword = (space < 0 ? instruction.args : instruction.args.slice(0, space)).toUpperCase();
      return { keyword, args: space < 0 ? '' : instruction.args.slice(space + 1) };
    });
}

/** The `--from=` values of the COPY commands: stage names, stage indexes or images. */
function copySources(commands: readonly Command[]): string[] {
  return commands
    .filter((command) => command.keyword === 'COPY')
    .flatMap((command) => command.args.split(' ').filter((word) => word.startsWith('--from=')))
    .map((flag) => flag.slice('--from='.length));
}

/** A name never set reads as empty, as kaniko's shell lexer expands it in a FROM. */
class EmptyWhenUnset extends Map<string, string> {
  override get(name: string): string {
    return super.get(name) ?? '';
  }
}

/**
 * The variables kaniko substitutes in FROM lines (pkg/dockerfile/dockerfile.go: expandNestedArgs,
 * unifyArgs): the ARGs before the first FROM that have a value, their values expanded with the
 * ones before and the build args, then overridden by the build args that are not empty.
 */
function kanikoMetaArgs(
  instructions: readonly Instruction[],
  buildArgs: readonly string[],
): Map<string, string> {
  const given = buildArgs.map((arg) => {
    const equals = arg.indexOf('=');
    return equals < 0 ? ([arg, ''] as const) : ([arg.slice(0, equals), arg.slice(equals + 1)] as const);
  });
  const args = new EmptyWhenUnset();
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') break;
    if (instruction.keyword !== 'ARG') continue;
    for (const word of instruction.args.split(' ')) {
      const equals = word.indexOf('=');
      if (equals < 0) continue;
      const raw = word.slice(equals + 1).replace(/^(["'])(.*)\1$/, '$2');
      const visible = new EmptyWhenUnset([...args, ...given]);
      args.set(word.slice(0, equals), substitute(raw, visible) ?? raw);
    }
  }
  for (const [name, value] of given) if (value !== '') args.set(name, value);
  return args;
}

/**
 * The Dockerfile kaniko is given: each FROM in `pins` replaced by `FROM <name>@<digest> [AS
 * <stage>]` on its own line, the lines it spanned left empty, so every line keeps its number
 * (findings and annotations point at the user's Dockerfile).
 */
export function pinnedDockerfile(
  dockerfileText: string,
  pins: readonly { readonly stage: Stage; readonly pinned: string }[],
): string {
  const lines = dockerfileText.split('\n');
  for (const { stage, pinned } of pins) {
    const first = stage.from.line - 1;
    let last = first;
    while (last < lines.length - 1 && /\\\s*$/.test(lines[last]!)) last++;
    const as = stage.name ? ` AS ${stage.name}` : '';
    lines.splice(first, last - first + 1, `FROM ${pinned}${as}`, ...Array<string>(last - first).fill(''));
  }
  return lines.join('\n');
}

/**
 * One problem per platform whose built stage (the target, else the last) is pinned to another
 * platform by its FROM (or its base stage's): kaniko would label it with the target platform
 * while its files are another's, so an index entry would lie about what it holds.
 */
export function finalStageProblems(
  dockerfileText: string,
  options: {
    readonly target: string;
    readonly buildArgs: readonly string[];
    readonly platforms: readonly Platform[];
    readonly runner: Platform;
  },
): string[] {
  return options.platforms.flatMap((platform) => {
    const stages = builtStages(dockerfileText, {
      target: options.target,
      buildArgs: withPlatformArgs(options.buildArgs, platform, options.runner),
      platform,
    });
    const last = stages.at(-1);
    if (!last || samePlatform(last.platform, platform)) return [];
    return [
      `The image for ${formatPlatform(platform)} would be built on ${formatPlatform(last.platform)}: its stage at line ` +
        `${last.stage.from.line} (${last.stage.from.text}) is pinned there by --platform. Leave the final stage's ` +
        'FROM without --platform (or use --platform=$TARGETPLATFORM) and pin only the stages that build for it.',
    ];
  });
}
