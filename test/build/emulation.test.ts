import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BinfmtHandler } from '../../src/build/emulation.js';
import {
  checkEmulation,
  elfHeader,
  emulationProblems,
  handlerFor,
  parseBinfmtEntry,
  platformsNeedingEmulation,
  readBinfmtHandlers,
} from '../../src/build/emulation.js';
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

const needing = (
  dockerfileText: string,
  options: { target?: string; buildArgs?: string[]; platforms?: Platform[]; runner?: Platform } = {},
) =>
  platformsNeedingEmulation({
    dockerfileText,
    target: options.target ?? '',
    buildArgs: options.buildArgs ?? [],
    platforms: options.platforms ?? [amd64, arm64],
    runner: options.runner ?? amd64,
  });

describe('platformsNeedingEmulation', () => {
  it('is the foreign platforms when the build has a RUN line, none when it has not', () => {
    expect(needing('FROM alpine:3.20\nRUN apk add curl\n', { platforms: [amd64, arm64, armV7] })).toEqual([
      arm64,
      armV7,
    ]);
    expect(needing('FROM alpine:3.20\nCOPY app /app\nENTRYPOINT ["/app"]\n')).toEqual([]);
    expect(needing('FROM alpine:3.20\nRUN true\n', { runner: arm64 })).toEqual([amd64]);
    expect(needing('FROM alpine:3.20\nRUN true\n', { platforms: [arm64, arm64] })).toEqual([arm64]);
    expect(needing('# empty\n')).toEqual([]);
  });

  it('runs linux/386 natively on an amd64 runner, but not arm on an arm64 one', () => {
    expect(needing('FROM i386/alpine\nRUN true\n', { platforms: [linux('386')] })).toEqual([]);
    expect(needing('FROM alpine\nRUN true\n', { platforms: [armV7], runner: arm64 })).toEqual([armV7]);
  });

  it('runs a FROM --platform=$BUILDPLATFORM stage natively (the action pins it), and a stage pinned elsewhere emulated', () => {
    const text =
      'FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nRUN go build -o /app\n' +
      'FROM scratch\nCOPY --from=build /app /app\n';
    expect(needing(text)).toEqual([]);
    // A stage built FROM the pinned one runs on its root, natively too.
    expect(
      needing(`${text}FROM build AS test\nRUN go test\nFROM scratch\nCOPY --from=test /app /app\n`),
    ).toEqual([]);
    const elsewhere =
      'FROM --platform=linux/arm64 alpine AS tools\nRUN make\nFROM scratch\nCOPY --from=tools / /\n';
    expect(
      platformsNeedingEmulation({
        dockerfileText: elsewhere,
        target: '',
        buildArgs: [],
        platforms: [amd64],
        runner: amd64,
      }),
    ).toEqual([arm64]);
  });

  it('follows the stages the target depends on through FROM, COPY --from (name or index) and ONBUILD', () => {
    expect(needing('FROM alpine AS Base\nRUN apk add git\nFROM base\nCOPY . /src\n')).toEqual([arm64]);
    expect(needing('FROM alpine\nRUN make\nFROM scratch\nCOPY --from=0 /out /\n')).toEqual([arm64]);
    const onBuild = 'FROM alpine AS base\nONBUILD RUN make\nFROM base\nCOPY . /src\n';
    expect(needing(onBuild)).toEqual([arm64]);
    // ONBUILD lines run in the stages built FROM this one, not in it.
    expect(needing('FROM alpine\nONBUILD RUN make\n')).toEqual([]);
    const onBuildCopy =
      'FROM alpine AS tools\nRUN make\nFROM alpine AS base\nONBUILD COPY --from=tools / /\nFROM base\n';
    expect(needing(onBuildCopy)).toEqual([arm64]);
  });

  it('ignores stages kaniko skips: ones the target does not use and ones after it', () => {
    const text =
      'FROM alpine AS test\nRUN make test\nFROM busybox AS tools\nRUN true\nFROM scratch AS release\n' +
      'COPY app /app\nFROM release AS debug\nRUN true\n';
    expect(needing(text, { target: 'release' })).toEqual([]);
    expect(needing(text, { target: 'TEST' })).toEqual([arm64]);
    expect(needing(text)).toEqual([arm64]);
    // COPY --from an image is not a stage.
    expect(needing('FROM alpine AS test\nRUN true\nFROM scratch\nCOPY --from=alpine:3.20 / /\n')).toEqual([]);
  });

  it('resolves FROM with the ARGs before the first FROM and the build args, as kaniko does', () => {
    const text =
      'ARG FLAVOR=slim\nARG FROM_STAGE=${FLAVOR}\nFROM alpine AS full\nRUN apk add curl\n' +
      'FROM scratch AS slim\nCOPY app /\nFROM ${FROM_STAGE}\n';
    expect(needing(text)).toEqual([]);
    expect(needing(text, { buildArgs: ['FLAVOR=full'] })).toEqual([arm64]);
    expect(needing(text, { buildArgs: ['FROM_STAGE=full'] })).toEqual([arm64]);
    // An empty build arg does not override the default.
    expect(needing(text, { buildArgs: ['FROM_STAGE='] })).toEqual([]);
    // kaniko adds no platform ARGs to FROM: $TARGETARCH is empty there, naming no stage.
    const perArch = 'FROM alpine AS build-amd64\nRUN true\nFROM build-${TARGETARCH}\n';
    expect(needing(perArch)).toEqual([]);
    expect(needing(perArch, { buildArgs: ['TARGETARCH=amd64'] })).toEqual([arm64]);
  });

  it('is conservative where it cannot tell: a FROM or COPY --from it cannot evaluate, an unknown target', () => {
    const unevaluated = 'FROM alpine AS tools\nRUN make\nFROM scratch AS other\nFROM ${BASE%%-*}\n';
    expect(needing(unevaluated)).toEqual([arm64]);
    expect(needing('FROM alpine AS base\nONBUILD RUN make\nFROM ${BASE%%-*}\n')).toEqual([arm64]);
    const copyFrom =
      'ARG SOURCE=tools\nFROM alpine AS tools\nRUN make\nFROM scratch\nCOPY --from=$SOURCE / /\n';
    expect(needing(copyFrom)).toEqual([arm64]);
    expect(needing('FROM alpine AS test\nRUN true\nFROM scratch\n', { target: 'missing' })).toEqual([arm64]);
  });
});

const aarch64 = [parseBinfmtEntry('qemu-aarch64', DEBIAN_AARCH64)];

describe('emulationProblems', () => {
  it('is none when every platform has an enabled handler with F', () => {
    expect(emulationProblems([arm64], aarch64, 'enabled')).toEqual([]);
    expect(emulationProblems([], undefined, undefined)).toEqual([]);
  });

  it('names the platform, what is missing and the fix, one message per platform', () => {
    expect(emulationProblems([arm64, armV7], aarch64, 'enabled')).toEqual([
      'Building linux/arm/v7 runs its RUN lines through QEMU user emulation, but no enabled binfmt_misc ' +
        'handler runs arm programs. In a step before this one, register a handler with the F flag: ' +
        '`sudo apt-get install -y qemu-user-static` (the Ubuntu and Debian package registers its handlers ' +
        'with F) or `docker run --privileged --rm tonistiigi/binfmt --install arm` (what ' +
        'docker/setup-qemu-action runs); or leave linux/arm/v7 out of `platforms`.',
    ]);
  });

  it('says when the handler lacks F, when binfmt_misc is disabled and when it is not mounted', () => {
    const noF: BinfmtHandler = { ...aarch64[0]!, flags: 'P', interpreter: '/usr/bin/qemu-aarch64' };
    const [lacking] = emulationProblems([arm64], [noF], 'enabled');
    expect(lacking).toContain(
      'but its binfmt_misc handler qemu-aarch64 lacks the F (fix-binary) flag, so the kernel would look ' +
        'for /usr/bin/qemu-aarch64 inside the build sandbox',
    );
    expect(lacking).toContain(
      'remove it (`echo -1 | sudo tee /proc/sys/fs/binfmt_misc/qemu-aarch64`), then register a handler',
    );
    expect(lacking).not.toContain('apt-get');
    const [disabled] = emulationProblems([arm64], aarch64, 'disabled');
    expect(disabled).toBe(
      'Building linux/arm64 runs its RUN lines through QEMU user emulation, but binfmt_misc is disabled ' +
        '(/proc/sys/fs/binfmt_misc/status). In a step before this one, enable it ' +
        '(`echo 1 | sudo tee /proc/sys/fs/binfmt_misc/status`); or leave linux/arm64 out of `platforms`.',
    );
    const [both] = emulationProblems([arm64], [], 'disabled');
    expect(both).toContain('disabled (/proc/sys/fs/binfmt_misc/status), and no enabled binfmt_misc handler');
    const [unmounted] = emulationProblems([arm64], undefined, undefined);
    expect(unmounted).toContain('but binfmt_misc is not mounted at /proc/sys/fs/binfmt_misc.');
    expect(unmounted).toContain(
      'mount it (`sudo mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc`)',
    );
    expect(unmounted).toContain('tonistiigi/binfmt --install arm64');
  });
});

describe('readBinfmtHandlers and checkEmulation', () => {
  const folders: string[] = [];
  afterEach(async () => {
    await Promise.all(folders.splice(0).map((folder) => rm(folder, { recursive: true, force: true })));
  });
  const binfmtFolder = async (files: Record<string, string>): Promise<string> => {
    const folder = await mkdtemp(join(tmpdir(), 'binfmt-'));
    folders.push(folder);
    for (const [name, text] of Object.entries(files)) await writeFile(join(folder, name), text);
    return folder;
  };

  it('reads status and every entry but register and status', async () => {
    const [, magic, mask] = QEMU_ENTRIES['qemu-arm']!;
    const folder = await binfmtFolder({
      status: 'enabled\n',
      register: '',
      'qemu-aarch64': DEBIAN_AARCH64,
      'qemu-arm': entry(magic, mask, { enabled: false }),
    });
    const { status, handlers } = await readBinfmtHandlers(folder);
    expect(status).toBe('enabled');
    expect(handlers?.map((handler) => [handler.name, handler.enabled])).toEqual([
      ['qemu-aarch64', true],
      ['qemu-arm', false],
    ]);
    expect(handlerFor(arm64, handlers!)?.name).toBe('qemu-aarch64');
  });

  it('says nothing is mounted when the folder has no status', async () => {
    const empty = await binfmtFolder({});
    expect(await readBinfmtHandlers(empty)).toEqual({});
    expect(await readBinfmtHandlers(join(empty, 'absent'))).toEqual({});
  });

  it.runIf(existsSync('/proc/sys/fs/binfmt_misc/status'))('reads this machine’s binfmt_misc', async () => {
    const { status, handlers } = await readBinfmtHandlers();
    expect(status).toMatch(/^(enabled|disabled)$/);
    expect(Array.isArray(handlers)).toBe(true);
    if (existsSync('/proc/sys/fs/binfmt_misc/qemu-aarch64'))
      expect(handlers?.some((handler) => handler.name === 'qemu-aarch64' && handler.magic)).toBe(true);
  });

  it('passes when the handlers are there or nothing needs them, and fails naming every platform', async () => {
    const folder = await binfmtFolder({ status: 'enabled\n', 'qemu-aarch64': DEBIAN_AARCH64 });
    const options = { target: '', buildArgs: [], runner: amd64, dir: folder };
    const run = { ...options, dockerfileText: 'FROM alpine\nRUN true\n' };
    await expect(checkEmulation({ ...run, platforms: [amd64, arm64] })).resolves.toBeUndefined();
    const copyOnly = { ...options, dockerfileText: 'FROM alpine\nCOPY . /\n', dir: join(folder, 'absent') };
    await expect(checkEmulation({ ...copyOnly, platforms: [armV7] })).resolves.toBeUndefined();
    await expect(checkEmulation({ ...run, platforms: [armV7] })).rejects.toThrow(
      /^Building linux\/arm\/v7 runs its RUN lines through QEMU user emulation, but no enabled/,
    );
    const two = checkEmulation({ ...run, platforms: [armV7, linux('riscv64')] });
    await expect(two).rejects.toThrow(
      /^Cannot build 2 platforms:\n {2}- Building linux\/arm\/v7 .*\n {2}- Building linux\/riscv64 /,
    );
  });
});
