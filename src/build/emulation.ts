import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Platform } from '../platform.js';
import { formatPlatform, samePlatform } from '../platform.js';
import { builtStages, withPlatformArgs } from './stage-platforms.js';

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
 * The platforms whose build runs a foreign program: for each platform built, the stages kaniko
 * builds that run a program (builtStages), on their own platform: the target's, or the one their
 * FROM pins them to (the action pins `FROM --platform=$BUILDPLATFORM` to the runner's manifest,
 * so a cross-compiling stage runs natively).
 */
export function platformsNeedingEmulation(options: EmulationOptions): Platform[] {
  const needed: Platform[] = [];
  for (const platform of options.platforms) {
    const stages = builtStages(options.dockerfileText, {
      target: options.target,
      buildArgs: withPlatformArgs(options.buildArgs, platform, options.runner),
      platform,
    });
    for (const stage of stages) {
      if (!stage.runs || runsNatively(stage.platform, options.runner)) continue;
      if (!needed.some((other) => samePlatform(other, stage.platform))) needed.push(stage.platform);
    }
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
