import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Instruction, Stage } from '../dockerfile.js';
import { parseDockerfile } from '../dockerfile.js';
import type { Platform } from '../platform.js';
import { formatPlatform, samePlatform } from '../platform.js';
import { substitute } from './base-image.js';

/** One entry of /proc/sys/fs/binfmt_misc, as the kernel prints it. */
export interface BinfmtHandler {
  /** The entry's file name, e.g. `qemu-aarch64`. */
  readonly name: string;
  readonly enabled: boolean;
  /** '' when the text names none. */
  readonly interpreter: string;
  /** The flag letters, e.g. `POF`; F (fix-binary) opens the interpreter when registered. */
  readonly flags: string;
  readonly offset: number;
  /** Lower-case hex; absent for an entry that matches a file name extension instead. */
  readonly magic?: string;
  /** Lower-case hex; absent when every bit of the magic counts. */
  readonly mask?: string;
  /** The extension an `E` entry matches, without its dot. */
  readonly extension?: string;
}

const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

/** Reads the text of /proc/sys/fs/binfmt_misc/<name> (fs/binfmt_misc.c, `entry_status`). */
export function parseBinfmtEntry(name: string, text: string): BinfmtHandler {
  const lines = text.split('\n').map((line) => line.trim());
  const value = (key: string): string | undefined => {
    const line = lines.find((candidate) => candidate.startsWith(`${key} `) || candidate === key);
    return line?.slice(key.length).trim();
  };
  const hex = (key: string): string | undefined => {
    const found = value(key)?.toLowerCase();
    return found && /^(?:[0-9a-f]{2})+$/.test(found) ? found : undefined;
  };
  const extension = value('extension')?.replace(/^\./, '');
  const magic = hex('magic');
  const mask = hex('mask');
  return {
    name,
    enabled: lines[0] === 'enabled',
    interpreter: value('interpreter') ?? '',
    flags: value('flags:') ?? '',
    offset: Number.parseInt(value('offset') ?? '0', 10) || 0,
    ...(magic ? { magic } : {}),
    ...(mask ? { mask } : {}),
    ...(extension ? { extension } : {}),
  };
}

/** e_ident's class (1: 32-bit, 2: 64-bit) and data (1: little-, 2: big-endian), and e_machine. */
const ELF_MACHINES: ReadonlyMap<string, { elfClass: 1 | 2; data: 1 | 2; machine: number }> = new Map([
  ['amd64', { elfClass: 2, data: 1, machine: 62 }],
  ['arm64', { elfClass: 2, data: 1, machine: 183 }],
  ['arm', { elfClass: 1, data: 1, machine: 40 }],
  ['386', { elfClass: 1, data: 1, machine: 3 }],
  ['ppc64le', { elfClass: 2, data: 1, machine: 21 }],
  ['s390x', { elfClass: 2, data: 2, machine: 22 }],
  ['riscv64', { elfClass: 2, data: 1, machine: 243 }],
] as const);

/** ET_EXEC for static and non-PIE programs, ET_DYN for PIE ones and the dynamic loader. */
const ELF_TYPES = [2, 3] as const;

/**
 * The first 20 bytes of an ELF program of `platform` (e_ident, e_type, e_machine): what a
 * binfmt_misc magic is matched against. Undefined for an architecture not known here.
 */
export function elfHeader(platform: Platform, type: 2 | 3 = 2): Uint8Array | undefined {
  const elf = ELF_MACHINES.get(platform.architecture);
  if (!elf) return undefined;
  const header = new Uint8Array(20);
  header.set([0x7f, 0x45, 0x4c, 0x46, elf.elfClass, elf.data, 1]);
  const view = new DataView(header.buffer);
  view.setUint16(16, type, elf.data === 1);
  view.setUint16(18, elf.machine, elf.data === 1);
  return header;
}

/**
 * Whether the kernel would hand a file starting with `header` to `handler`: every byte of the
 * magic, at the handler's offset, equal to the file's where the mask has bits (check_file in
 * fs/binfmt_misc.c). Bytes past the header are unknown here, so a magic reaching them never matches.
 */
function magicMatches(handler: BinfmtHandler, header: Uint8Array): boolean {
  if (!handler.magic) return false;
  const magic = Buffer.from(handler.magic, 'hex');
  const mask = handler.mask ? Buffer.from(handler.mask, 'hex') : undefined;
  if (handler.offset + magic.length > header.length) return false;
  return magic.every(
    (byte, index) => ((header[handler.offset + index]! ^ byte) & (mask ? (mask[index] ?? 0) : 0xff)) === 0,
  );
}

/**
 * The enabled handler that runs `platform`'s programs, static and PIE alike, or undefined. The
 * kernel uses the last registered of several that match, which /proc does not tell; so one
 * without the F flag is the one returned, as it is the one that could fail.
 */
export function handlerFor(
  platform: Platform,
  handlers: readonly BinfmtHandler[],
): BinfmtHandler | undefined {
  const headers = ELF_TYPES.map((type) => elfHeader(platform, type));
  if (headers.some((header) => header === undefined)) return undefined;
  const matching = handlers.filter(
    (handler) => handler.enabled && headers.every((header) => magicMatches(handler, header!)),
  );
  return matching.find((handler) => !handler.flags.includes('F')) ?? matching[0];
}

export interface EmulationOptions {
  readonly dockerfileText: string;
  /** The `target` input: the stage built instead of the last one; '' for the last. */
  readonly target: string;
  /** NAME=value, the `build-args` input. */
  readonly buildArgs: readonly string[];
  /** The platforms to build, normalized (parsePlatform). */
  readonly platforms: readonly Platform[];
  /** The platform the runner executes natively (runnerPlatform). */
  readonly runner: Platform;
}

/**
 * The platforms whose build runs a foreign program: a platform the runner cannot execute natively
 * whose build has a RUN line. kaniko v1.28.2 pulls every base image for `--custom-platform` and
 * ignores `FROM --platform` (its KanikoStage has no platform), so a `FROM --platform=$BUILDPLATFORM`
 * stage runs for the target platform too; which stages it builds does not depend on the platform.
 */
export function platformsNeedingEmulation(options: EmulationOptions): Platform[] {
  if (!buildRunsCommands(options.dockerfileText, options.target, options.buildArgs)) return [];
  const needed: Platform[] = [];
  for (const platform of options.platforms) {
    if (runsNatively(platform, options.runner)) continue;
    if (!needed.some((other) => samePlatform(other, platform))) needed.push(platform);
  }
  return needed;
}

/** x86-64 kernels run i386 programs themselves (IA32 emulation), and the sandbox allows them. */
function runsNatively(platform: Platform, runner: Platform): boolean {
  if (samePlatform(platform, runner)) return true;
  return (
    samePlatform(platform, { os: 'linux', architecture: '386' }) &&
    samePlatform(runner, { os: 'linux', architecture: 'amd64' })
  );
}

/** An instruction of a stage as kaniko runs it: a base stage's ONBUILD ones come first. */
type Command = Pick<Instruction, 'keyword' | 'args'>;

/**
 * Whether a stage kaniko v1.28.2 builds has a RUN. It builds only the target stage and the stages
 * it depends on, through FROM and `COPY --from` (pkg/dockerfile/dockerfile.go, MakeKanikoStages;
 * this fork deprecated `--skip-unused-stages`, skipping being its default), never a stage after the
 * target. A FROM this cannot work out makes every earlier stage (and its ONBUILD lines) count, a
 * `COPY --from` with a variable every stage, an unknown target every stage.
 */
function buildRunsCommands(text: string, target: string, buildArgs: readonly string[]): boolean {
  const dockerfile = parseDockerfile(text);
  const wanted = target.toLowerCase();
  const { stages } = dockerfile;
  const targetIndex = wanted ? stages.findIndex((stage) => stage.name === wanted) : stages.length - 1;
  const considered = targetIndex < 0 ? stages : stages.slice(0, targetIndex + 1);
  const args = kanikoMetaArgs(dockerfile.instructions, buildArgs);
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
  for (let index = pending.pop(); index !== undefined; index = pending.pop()) {
    const base = baseStage(considered, index, args);
    const bases =
      base === 'unknown' ? every.filter((earlier) => earlier < index) : base === undefined ? [] : [base];
    bases.forEach(add);
    const onBuild = bases.flatMap((other) => onBuildCommands(considered[other]?.instructions ?? []));
    const commands: Command[] = [...onBuild, ...considered[index]!.instructions];
    if (commands.some((command) => command.keyword === 'RUN')) return true;
    for (const from of copySources(commands)) {
      if (/^\d+$/.test(from)) add(Number(from));
      else if (from.includes('$')) every.forEach(add);
      else add(byName.get(from.toLowerCase()) ?? -1);
    }
  }
  return false;
}

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
 * ones before and the build args, then overridden by the build args that are not empty. Unlike
 * Docker it adds no TARGETARCH or BUILDPLATFORM there.
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

/** How to register a handler with F; tonistiigi/binfmt's `--install` takes the GOARCH name. */
function registerHandler(platform: Platform, withApt: boolean): string {
  const apt =
    '`sudo apt-get install -y qemu-user-static` (the Ubuntu and Debian package registers its handlers with F) or ';
  return (
    `register a handler with the F flag: ${withApt ? apt : ''}` +
    `\`docker run --privileged --rm tonistiigi/binfmt --install ${platform.architecture}\`` +
    ' (what docker/setup-qemu-action runs)'
  );
}

/**
 * Why each platform in `needed` cannot run its RUN lines, one message per platform, or none.
 * `handlers` undefined: binfmt_misc is not mounted. The sandbox cannot see the runner's files, so
 * only a handler with the F (fix-binary) flag, whose interpreter the kernel opened when it was
 * registered, can start QEMU there.
 */
export function emulationProblems(
  needed: readonly Platform[],
  handlers: readonly BinfmtHandler[] | undefined,
  status: 'enabled' | 'disabled' | undefined,
): string[] {
  return needed.flatMap((platform) => {
    const subject = `Building ${formatPlatform(platform)} runs its RUN lines through QEMU user emulation`;
    if (handlers !== undefined && !elfHeader(platform))
      return [`${subject}, which this action cannot check for ${platform.architecture}`];
    const { causes, fixes } = missingEmulation(platform, handlers, status);
    if (causes.length === 0) return [];
    return [
      `${subject}, but ${causes.join(', and ')}. In a step before this one, ${fixes.join(', then ')}; ` +
        `or leave ${formatPlatform(platform)} out of \`platforms\`.`,
    ];
  });
}

/** What stands between `platform` and a usable handler, and the fix of each, in order. */
function missingEmulation(
  platform: Platform,
  handlers: readonly BinfmtHandler[] | undefined,
  status: 'enabled' | 'disabled' | undefined,
): { causes: string[]; fixes: string[] } {
  if (handlers === undefined)
    return {
      causes: [`binfmt_misc is not mounted at ${BINFMT_DIR}`],
      fixes: [
        `mount it (\`sudo mount -t binfmt_misc binfmt_misc ${BINFMT_DIR}\`)`,
        registerHandler(platform, true),
      ],
    };
  const causes: string[] = [];
  const fixes: string[] = [];
  if (status === 'disabled') {
    causes.push(`binfmt_misc is disabled (${BINFMT_DIR}/status)`);
    fixes.push(`enable it (\`echo 1 | sudo tee ${BINFMT_DIR}/status\`)`);
  }
  const handler = handlerFor(platform, handlers);
  if (!handler) {
    causes.push(`no enabled binfmt_misc handler runs ${platform.architecture} programs`);
    fixes.push(registerHandler(platform, true));
  } else if (!handler.flags.includes('F')) {
    causes.push(
      `its binfmt_misc handler ${handler.name} lacks the F (fix-binary) flag, so the kernel would look ` +
        `for ${handler.interpreter || 'its interpreter'} inside the build sandbox, which does not have it`,
    );
    fixes.push(
      `remove it (\`echo -1 | sudo tee ${BINFMT_DIR}/${handler.name}\`)`,
      registerHandler(platform, false),
    );
  }
  return { causes, fixes };
}

/**
 * The entries of binfmt_misc at `dir`: `status` and `handlers` absent when it is not mounted
 * there. An entry removed while being read is left out.
 */
export async function readBinfmtHandlers(
  dir = BINFMT_DIR,
): Promise<{ status?: 'enabled' | 'disabled'; handlers?: BinfmtHandler[] }> {
  let statusText: string;
  try {
    statusText = await readFile(join(dir, 'status'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  const names = (await readdir(dir)).filter((name) => name !== 'register' && name !== 'status').sort();
  const entries = await Promise.all(
    names.map(async (name) => {
      try {
        return parseBinfmtEntry(name, await readFile(join(dir, name), 'utf8'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    }),
  );
  const status = statusText.trim();
  return {
    ...(status === 'enabled' || status === 'disabled' ? { status } : {}),
    handlers: entries.filter((entry) => entry !== undefined),
  };
}

/**
 * Fails, naming every platform that cannot be built and how to fix it, when a foreign platform's
 * RUN lines would meet no usable QEMU handler; reads binfmt_misc only when some platform needs it.
 */
export async function checkEmulation(options: EmulationOptions & { readonly dir?: string }): Promise<void> {
  const needed = platformsNeedingEmulation(options);
  if (needed.length === 0) return;
  const { status, handlers } = await readBinfmtHandlers(options.dir);
  const problems = emulationProblems(needed, handlers, status);
  if (problems.length === 1) throw new Error(problems[0]);
  if (problems.length > 1)
    throw new Error(
      `Cannot build ${problems.length} platforms:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`,
    );
}
