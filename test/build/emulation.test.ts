import { describe, expect, it } from 'vitest';
import { elfHeader, handlerFor, parseBinfmtEntry } from '../../src/build/emulation.js';
import type { Platform } from '../../src/platform.js';

const linux = (architecture: string, variant?: string): Platform => ({
  os: 'linux',
  architecture,
  ...(variant ? { variant } : {}),
});
const amd64 = linux('amd64');
const arm64 = linux('arm64');
const armV7 = linux('arm', 'v7');

/** /proc/sys/fs/binfmt_misc/qemu-aarch64 as Debian's qemu-user-static registers it. */
const DEBIAN_AARCH64 = `enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`;

/** An entry as /proc prints it; magic and mask as tonistiigi/binfmt (and qemu-binfmt-conf.sh) register them. */
const entry = (magic: string, mask: string, { flags = 'CF', enabled = true } = {}) =>
  `${enabled ? 'enabled' : 'disabled'}\ninterpreter /usr/bin/qemu\nflags: ${flags}\noffset 0\nmagic ${magic}\nmask ${mask}\n`;

const QEMU_ENTRIES: Record<string, [Platform, string, string]> = {
  'qemu-x86_64': [
    amd64,
    '7f454c4602010100000000000000000002003e00',
    'fffffffffffefe00fffffffffffffffffeffffff',
  ],
  'qemu-aarch64': [
    arm64,
    '7f454c460201010000000000000000000200b700',
    'ffffffffffffff00fffffffffffffffffeffffff',
  ],
  'qemu-arm': [armV7, '7f454c4601010100000000000000000002002800', 'ffffffffffffff00fffffffffffffffffeffffff'],
  'qemu-i386': [
    linux('386'),
    '7f454c4601010100000000000000000002000300',
    'fffffffffffefe00fffffffffffffffffeffffff',
  ],
  'qemu-ppc64le': [
    linux('ppc64le'),
    '7f454c4602010100000000000000000002001500',
    'ffffffffffffff00fffffffffffffffffeffff00',
  ],
  'qemu-s390x': [
    linux('s390x'),
    '7f454c4602020100000000000000000000020016',
    'ffffffffffffff00fffffffffffffffffffeffff',
  ],
  'qemu-riscv64': [
    linux('riscv64'),
    '7f454c460201010000000000000000000200f300',
    'ffffffffffffff00fffffffffffffffffeffffff',
  ],
};

const qemuHandlers = Object.entries(QEMU_ENTRIES).map(([name, [, magic, mask]]) =>
  parseBinfmtEntry(name, entry(magic, mask)),
);

describe('parseBinfmtEntry', () => {
  it('reads an entry as the kernel prints it', () => {
    expect(parseBinfmtEntry('qemu-aarch64', DEBIAN_AARCH64)).toEqual({
      name: 'qemu-aarch64',
      enabled: true,
      interpreter: '/usr/libexec/qemu-binfmt/aarch64-binfmt-P',
      flags: 'POF',
      offset: 0,
      magic: '7f454c460201010000000000000000000200b700',
      mask: 'ffffffffffffff00fffffffffffffffffeffffff',
    });
  });

  it('reads a disabled entry, one with no flags and no mask, and an extension entry', () => {
    const bare = parseBinfmtEntry('bare', 'disabled\ninterpreter /bin/x\nflags: \noffset 2\nmagic CAFE\n');
    expect(bare).toEqual({
      name: 'bare',
      enabled: false,
      interpreter: '/bin/x',
      flags: '',
      offset: 2,
      magic: 'cafe',
    });
    const exe = parseBinfmtEntry('mono', 'enabled\ninterpreter /usr/bin/mono\nflags: \nextension .exe\n');
    expect(exe).toEqual({
      name: 'mono',
      enabled: true,
      interpreter: '/usr/bin/mono',
      flags: '',
      offset: 0,
      extension: 'exe',
    });
  });
});

describe('elfHeader', () => {
  it('is e_ident, e_type and e_machine in the architecture’s byte order', () => {
    expect(Buffer.from(elfHeader(arm64)!).toString('hex')).toBe('7f454c460201010000000000000000000200b700');
    expect(Buffer.from(elfHeader(linux('s390x'), 3)!).toString('hex')).toBe(
      '7f454c4602020100000000000000000000030016',
    );
    expect(elfHeader(linux('mips64le'))).toBeUndefined();
  });
});

describe('handlerFor', () => {
  it('finds the handler whose magic and mask match each architecture’s programs, and no other', () => {
    for (const [name, [platform]] of Object.entries(QEMU_ENTRIES))
      expect(handlerFor(platform, qemuHandlers)?.name, name).toBe(name);
    expect(handlerFor(linux('arm', 'v6'), qemuHandlers)?.name).toBe('qemu-arm');
    expect(handlerFor(arm64, [parseBinfmtEntry('qemu-aarch64', DEBIAN_AARCH64)])?.flags).toBe('POF');
    expect(handlerFor(amd64, [parseBinfmtEntry('qemu-aarch64', DEBIAN_AARCH64)])).toBeUndefined();
  });

  it('ignores a disabled handler, one that misses PIE programs and one whose magic passes the header', () => {
    const [, magic, mask] = QEMU_ENTRIES['qemu-aarch64']!;
    const disabled = parseBinfmtEntry('qemu-aarch64', entry(magic, mask, { enabled: false }));
    expect(handlerFor(arm64, [disabled])).toBeUndefined();
    // e_type masked with ff: ET_EXEC only, so PIE (ET_DYN) programs would not reach QEMU.
    const execOnly = parseBinfmtEntry('exec-only', entry(magic, mask.replace(/fe(ffffff)$/, 'ff$1')));
    expect(handlerFor(arm64, [execOnly])).toBeUndefined();
    const beyond = parseBinfmtEntry(
      'beyond',
      `enabled\ninterpreter /x\nflags: F\noffset 16\nmagic ${'00'.repeat(8)}\n`,
    );
    expect(handlerFor(arm64, [beyond])).toBeUndefined();
    expect(handlerFor(linux('mips64le'), qemuHandlers)).toBeUndefined();
  });

  it('of two matching handlers returns one without F: the kernel may use either', () => {
    const [, magic, mask] = QEMU_ENTRIES['qemu-aarch64']!;
    const withF = parseBinfmtEntry('qemu-aarch64', DEBIAN_AARCH64);
    const withoutF = parseBinfmtEntry('aarch64-dynamic', entry(magic, mask, { flags: 'P' }));
    expect(handlerFor(arm64, [withF, withoutF])?.name).toBe('aarch64-dynamic');
  });
});
