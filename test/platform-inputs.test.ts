import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { InputName } from '../src/inputs.js';
import { InputError, buildConfig } from '../src/inputs.js';
import { githubContext, makeWorkspace } from './helpers/github-context.js';

type Inputs = Partial<Record<InputName, string>>;

function configFor(inputs: Inputs, workspace = makeWorkspace()) {
  return buildConfig({
    read: (name) => inputs[name] ?? '',
    github: githubContext({ workspace }),
    outputDir: join(workspace, 'out'),
    tempDir: join(workspace, 'tmp'),
    now: new Date('2026-11-30T12:00:00Z'),
    commitTime: () => {
      throw new Error('no process may run while inputs are bad');
    },
  });
}

function problemsFor(inputs: Inputs): readonly string[] {
  try {
    configFor(inputs);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as InputError).problems;
  }
  throw new Error('expected the inputs to be refused');
}

const digest = (character: string) => `sha256:${character.repeat(64)}`;

describe('platforms', () => {
  it('is the runner’s platform by default, and a list normalized as kaniko normalizes it', () => {
    expect(configFor({}).build.platforms).toEqual([{ os: 'linux', architecture: 'amd64' }]);
    expect(configFor({ platforms: 'linux/amd64, linux/aarch64\nlinux/arm' }).build.platforms).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 'arm', variant: 'v7' },
    ]);
  });

  it('refuses an unknown, a malformed and a repeated platform together, naming the input', () => {
    const problems = problemsFor({
      platforms: 'linux/amd64,linux/mips64,amd64,windows/amd64,linux/arm64/v8,linux/arm64',
    });
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^`platforms` "linux\/mips64" names the architecture mips64/);
    expect(problems[1]).toMatch(/^`platforms` "amd64" is not os\/architecture/);
    expect(problems[2]).toMatch(/^`platforms` "windows\/amd64" names the OS windows/);
    expect(problems[3]).toBe('`platforms` "linux/arm64" names linux/arm64 twice: list each platform once');
  });

  it('refuses a list with no platform in it', () => {
    expect(problemsFor({ platforms: ' , ' })).toEqual([
      '`platforms` "," lists no platform: give os/arch values, e.g. linux/amd64,linux/arm64',
    ]);
  });

  it('owns kaniko’s --custom-platform', () => {
    expect(problemsFor({ 'kaniko-args': '--custom-platform=linux/arm64' })).toEqual([
      '`kaniko-args` "--custom-platform=linux/arm64" sets --custom-platform, which the action owns: use the `platforms` input',
    ]);
  });
});

describe('crane for an image index', () => {
  it('is 0.21.6 or later when an index is pushed: older cranes write another index than the one computed', () => {
    const refusal =
      '`crane-version` "0.21.5" is older than 0.21.6, whose `index append` writes the image index as the action computes it';
    for (const inputs of [{ platforms: 'linux/amd64,linux/arm64' }, { 'merge-digests': digest('a') }])
      expect(problemsFor({ ...inputs, 'crane-version': '0.21.5' })[0]).toContain(refusal);
    expect(
      problemsFor({ platforms: 'linux/amd64,linux/arm64', 'crane-version': '0.21.6-rc.1' }),
    ).toHaveLength(1);
    expect(
      configFor({ platforms: 'linux/amd64,linux/arm64', 'crane-version': '0.21.6' }).tools.craneVersion,
    ).toBe('0.21.6');
    // One platform's image, even pushed by digest for a merge, is no index.
    expect(configFor({ 'push-by-digest': 'true', 'crane-version': '0.20.2' }).tools.craneVersion).toBe(
      '0.20.2',
    );
  });
});

describe('push-by-digest and merge-digests', () => {
  it('push-by-digest pushes no tag, and keeps the computed version for the labels', () => {
    const config = configFor({ 'push-by-digest': 'true' });
    expect(config.publish.pushByDigest).toBe(true);
    expect(config.publish.mergeDigests).toEqual([]);
  });

  it('refuses push-by-digest with several platforms: a matrix job pushes one platform’s manifest', () => {
    expect(problemsFor({ 'push-by-digest': 'true', platforms: 'linux/amd64,linux/arm64' })).toEqual([
      "`push-by-digest`: pushes one platform's manifest, for a matrix job, but `platforms` lists 2: give each job one platform, or leave out push-by-digest to push them as one index",
    ]);
  });

  it('refuses push-by-digest together with tags', () => {
    expect(problemsFor({ 'push-by-digest': 'true', tags: 'v1' })).toEqual([
      '`push-by-digest`: pushes no tag, but `tags` is given: the job that runs `merge-digests` sets the tags; remove `tags` here',
    ]);
  });

  it('takes bare digests and digests of `image`, each once', () => {
    const config = configFor({
      image: 'ghcr.io/octo-org/app',
      'merge-digests': `${digest('a')}\nghcr.io/octo-org/app@${digest('b')}`,
    });
    expect(config.publish.mergeDigests).toEqual([digest('a'), digest('b')]);
  });

  it('refuses bad digests, another repository’s, a repeated one, and platforms or push-by-digest beside them', () => {
    const problems = problemsFor({
      image: 'ghcr.io/octo-org/app',
      platforms: 'linux/amd64,linux/arm64',
      'push-by-digest': 'true',
      'merge-digests': [
        'sha256:abc',
        `ghcr.io/octo-org/other@${digest('a')}`,
        digest('b'),
        `ghcr.io/octo-org/app@${digest('b')}`,
        'ghcr.io/octo-org/app:v1',
      ].join('\n'),
    });
    expect(problems).toEqual([
      "`push-by-digest`: pushes one platform's manifest, for a matrix job, but `platforms` lists 2: give each job one platform, or leave out push-by-digest to push them as one index",
      '`merge-digests` "sha256:abc" is not sha256:<64 hex> or <image>@sha256:<64 hex>',
      `\`merge-digests\` "ghcr.io/octo-org/other@${digest('a')}" is not in \`image\` (ghcr.io/octo-org/app): an index lists manifests of its own repository`,
      `\`merge-digests\` "ghcr.io/octo-org/app@${digest('b')}" is listed twice`,
      '`merge-digests` "ghcr.io/octo-org/app:v1" is not sha256:<64 hex> or <image>@sha256:<64 hex>',
      '`merge-digests`: builds nothing, but `platforms` is given: each matrix job builds its platform; remove `platforms` from the merge job',
      '`merge-digests`: merges what `push-by-digest` jobs pushed: remove `push-by-digest` from the merge job',
    ]);
  });

  it('needs no checkout for a merge: the Dockerfile is not looked for', () => {
    const workspace = makeWorkspace();
    rmSync(join(workspace, 'Dockerfile'));
    expect(configFor({ 'merge-digests': digest('a') }, workspace).publish.mergeDigests).toEqual([
      digest('a'),
    ]);
    expect(() => configFor({}, workspace)).toThrow(/`file` .* does not exist/);
  });

  it('refuses merge-digests with rescan', () => {
    expect(problemsFor({ rescan: 'true', 'merge-digests': digest('a') })).toContain(
      '`merge-digests`: and `rescan: true` cannot be combined: run them as two steps',
    );
  });
});
