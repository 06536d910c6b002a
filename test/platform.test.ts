import { describe, expect, it } from 'vitest';
import {
  formatPlatform,
  parsePlatform,
  platformSlug,
  runnerPlatform,
  samePlatform,
} from '../src/platform.js';

const linux = (architecture: string, variant?: string) => ({
  os: 'linux',
  architecture,
  ...(variant ? { variant } : {}),
});

describe('parsePlatform', () => {
  it('reads the supported platforms', () => {
    expect(parsePlatform('linux/amd64')).toEqual(linux('amd64'));
    expect(parsePlatform('linux/arm64')).toEqual(linux('arm64'));
    expect(parsePlatform('linux/arm/v7')).toEqual(linux('arm', 'v7'));
    expect(parsePlatform('linux/arm/v6')).toEqual(linux('arm', 'v6'));
    expect(parsePlatform('linux/arm/v5')).toEqual(linux('arm', 'v5'));
    expect(parsePlatform('linux/386')).toEqual(linux('386'));
    expect(parsePlatform('linux/ppc64le')).toEqual(linux('ppc64le'));
    expect(parsePlatform('linux/s390x')).toEqual(linux('s390x'));
    expect(parsePlatform('linux/riscv64')).toEqual(linux('riscv64'));
    expect(parsePlatform(' linux/amd64 ')).toEqual(linux('amd64'));
  });

  it('normalizes as containerd’s platforms.Normalize: aliases, default variants, case', () => {
    expect(parsePlatform('linux/arm64/v8')).toEqual(linux('arm64'));
    expect(parsePlatform('linux/aarch64')).toEqual(linux('arm64'));
    expect(parsePlatform('linux/x86_64')).toEqual(linux('amd64'));
    expect(parsePlatform('linux/x86-64')).toEqual(linux('amd64'));
    expect(parsePlatform('linux/amd64/v1')).toEqual(linux('amd64'));
    expect(parsePlatform('linux/i386')).toEqual(linux('386'));
    expect(parsePlatform('linux/arm')).toEqual(linux('arm', 'v7'));
    expect(parsePlatform('linux/arm/7')).toEqual(linux('arm', 'v7'));
    expect(parsePlatform('linux/arm/6')).toEqual(linux('arm', 'v6'));
    expect(parsePlatform('linux/armhf')).toEqual(linux('arm', 'v7'));
    expect(parsePlatform('linux/armel')).toEqual(linux('arm', 'v6'));
    expect(parsePlatform('Linux/ARM64')).toEqual(linux('arm64'));
  });

  it('says what is wrong and lists what is accepted', () => {
    const accepted =
      'linux/amd64, linux/arm64, linux/arm/v7, linux/arm/v6, linux/arm/v5, linux/386, linux/ppc64le, linux/s390x, linux/riscv64';
    expect(parsePlatform('windows/amd64')).toEqual({
      problem: `names the OS windows: only linux images are built; use one of ${accepted}`,
    });
    expect(parsePlatform('linux/mips64le')).toEqual({
      problem: `names the architecture mips64le, which is not supported: use one of ${accepted}`,
    });
    expect(parsePlatform('linux/arm64/v9')).toEqual({
      problem: `names the variant v9 of arm64, which is not supported: use one of ${accepted}`,
    });
    expect(parsePlatform('linux/amd64/v3')).toEqual({
      problem: `names the variant v3 of amd64, which is not supported: use one of ${accepted}`,
    });
    expect(parsePlatform('linux/arm/v8')).toEqual({
      problem: `names the variant v8 of arm, which is not supported: use one of ${accepted}`,
    });
    for (const text of ['arm64', 'linux', 'linux/arm/v7/x', 'linux//v7', 'linux/arm64 linux/amd64'])
      expect(parsePlatform(text)).toEqual({
        problem: `is not os/architecture[/variant]: use one of ${accepted}`,
      });
    expect(parsePlatform('')).toEqual({
      problem: `is empty: give os/architecture[/variant], one of ${accepted}`,
    });
  });
});

describe('formatPlatform and platformSlug', () => {
  it('join the parts, leaving out a missing variant', () => {
    expect(formatPlatform(linux('arm', 'v7'))).toBe('linux/arm/v7');
    expect(formatPlatform(linux('amd64'))).toBe('linux/amd64');
    expect(formatPlatform({ os: 'linux', architecture: 'arm64', variant: '' })).toBe('linux/arm64');
    expect(platformSlug(linux('arm', 'v7'))).toBe('linux-arm-v7');
    expect(platformSlug(linux('386'))).toBe('linux-386');
  });
});

describe('runnerPlatform', () => {
  it('names the runner’s architecture as Go does', () => {
    expect(runnerPlatform('x64')).toEqual(linux('amd64'));
    expect(runnerPlatform('arm64')).toEqual(linux('arm64'));
    expect(runnerPlatform('ia32')).toEqual(linux('386'));
    expect(runnerPlatform('arm')).toEqual(linux('arm', 'v7'));
    expect(runnerPlatform('ppc64')).toEqual(linux('ppc64le'));
    expect(runnerPlatform('s390x')).toEqual(linux('s390x'));
    expect(runnerPlatform('riscv64')).toEqual(linux('riscv64'));
    expect(runnerPlatform('mipsel')).toEqual(linux('mipsle'));
  });

  it('defaults to this process’s architecture', () => {
    expect(runnerPlatform()).toEqual(runnerPlatform(process.arch));
  });
});

describe('samePlatform', () => {
  it('compares normalized platforms', () => {
    expect(samePlatform(linux('arm64'), linux('arm64', 'v8'))).toBe(true);
    expect(samePlatform(linux('arm'), linux('arm', 'v7'))).toBe(true);
    expect(samePlatform(linux('amd64'), { os: 'linux', architecture: 'x86_64', variant: '' })).toBe(true);
    expect(samePlatform(linux('arm', 'v6'), linux('arm', 'v7'))).toBe(false);
    expect(samePlatform(linux('amd64'), linux('386'))).toBe(false);
    expect(samePlatform(linux('amd64'), { os: 'windows', architecture: 'amd64' })).toBe(false);
  });
});
