import type { Platform } from '../platform.js';

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
